// Whether the CSP where it runs lets a string run as code: resolves to "it
// ran", or the thrown error's name. Asked in a later task, because code a test
// driver evaluates directly may be exempt from the policy. Self-contained, as
// drivers hand it to a page or worker by its source, and tests/engines serves
// this file in front of the demo's main.js (a module, so the export stands).
export function evalInLaterTask() {
  return new Promise((done) =>
    setTimeout(() => {
      try {
        // biome-ignore lint/security/noGlobalEval: the check is that the CSP refuses eval
        eval("1");
        done("it ran");
      } catch (e) {
        done(e.name);
      }
    }),
  );
}
