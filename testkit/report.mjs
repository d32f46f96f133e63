// The one pass/fail reporter of every JS test runner. Each check prints one
// line; `missing` names a part this machine lacks (a browser, an adapter), which
// is a failure under CI=true and a named skip elsewhere, never a silent one.
export const CI = process.env.CI === "true";

let failed = 0;

export function check(ok, line) {
  console.log(`${ok ? "ok  " : "FAIL"} ${line}`);
  if (!ok) failed++;
  return ok;
}

export const pass = (line) => check(true, line);
export const fail = (line) => check(false, line);

export function missing(what) {
  if (CI) return fail(`${what} (CI=true: a missing part fails)`);
  console.log(`SKIP ${what}`);
  return false;
}

// How many checks have failed so far.
export const failures = () => failed;

// Ends the run: exit status 1 when any check failed.
export function finish(suite) {
  if (failed) {
    console.error(`${failed} ${suite} check(s) failed`);
    process.exit(1);
  }
  console.log(`every ${suite} check passed`);
  process.exit(0);
}
