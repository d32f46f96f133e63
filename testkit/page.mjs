// What the browser test pages share: cases as window.* functions whose
// results, errors included, come back to the driver as plain data (a
// rejected evaluate loses an error's `code`), and the real photos as images.

export function wrap(fn) {
  return async (arg) => {
    try {
      return await fn(arg);
    } catch (e) {
      return { error: { code: e?.code ?? null, message: String(e?.message ?? e) } };
    }
  };
}

// `name` with its extension, e.g. "coffee.png".
export async function photo(name) {
  const img = new Image();
  img.src = `/.cache/photos/${name}`;
  await img.decode();
  return img;
}

// "auto"'s remembered choice (localStorage "webresnet:backend", as the
// package documents it) set to WebGPU, so that "auto" lands on WebGPU even
// where the adapter alone would send it to the CPU (SwiftShader here). An
// "auto" classifier of `model` is made first if nothing is remembered yet.
export async function rememberWebGpu(Classifier, model) {
  const KEY = "webresnet:backend";
  if (!localStorage.getItem(KEY)) (await Classifier.create({ model, backend: "auto" })).dispose();
  const record = JSON.parse(localStorage.getItem(KEY));
  localStorage.setItem(KEY, JSON.stringify({ ...record, backend: "webgpu" }));
}
