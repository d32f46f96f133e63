// A TypeScript user of the package: must type-check against the shipped
// .d.ts (tsc --noEmit), and the @ts-expect-error lines prove the types are
// not `any` (an unused @ts-expect-error is itself an error).
import { Classifier, WebResnetError, type BackendChange, type Prediction, type Progress } from "webresnet";

export async function demo(img: HTMLImageElement, video: HTMLVideoElement): Promise<string> {
  const clf = await Classifier.create({
    backend: "auto",
    onProgress: (p: Progress) => console.log(p.phase, p.loaded, p.total),
    onBackendChange: (c: BackendChange) => console.log(c.previous, "->", c.backend, c.reason),
  });
  const top: Prediction[] = await clf.classify(img, { topK: 3 });
  const frame: Prediction[] = await clf.classify(video);
  const features: Float32Array = await clf.embed(await createImageBitmap(img));
  const logits: Float32Array = await clf.infer(new Float32Array(3 * 224 * 224), [1, 3, 224, 224]);
  const backend: "webgpu" | "cpu-simd" | "cpu-simd-threads" = clf.backend;
  const adapter: string | null = clf.adapter;
  const why: string = clf.backendReason;
  const bench = await Classifier.benchmark({ runs: 3, worker: true, onProgress: ({ step }) => console.log(step) });
  const warm: number | undefined = bench.backends[0].warmMs?.median;
  const autoChose: string = `${bench.auto.backend}: ${bench.auto.reason}`;
  const heap: number = (await clf.stats()).wasmMemoryBytes;
  const threads: number = clf.threads + (await clf.stats()).threads;
  const fromFrame: Prediction[] = await clf.classify(new VideoFrame(video));
  const fromUrl: Prediction[] = await clf.classify("/photos/cat.jpg");
  const fromUrlObject: Float32Array = await clf.embed(new URL("https://example.com/cat.jpg"));
  clf.dispose();

  const fromBytes = await Classifier.create({ model: new Uint8Array(8), worker: true, sha256: "ab" });
  try {
    await fromBytes.classify(new Blob([]));
  } catch (e) {
    if (e instanceof WebResnetError && e.code === "IMAGE_DECODE") console.log(e.message);
  }

  // @ts-expect-error: no such backend
  await Classifier.create({ backend: "tpu" });
  // @ts-expect-error: topK is a number
  await clf.classify(img, { topK: "5" });
  // @ts-expect-error: a number is not an image source
  await clf.classify(42);
  // @ts-expect-error: runs is a number
  await Classifier.benchmark({ runs: "3" });
  // @ts-expect-error: made by Classifier.create only
  new Classifier();
  // @ts-expect-error: not a code the package uses
  const code: WebResnetError["code"] = "OOPS";

  return `${top[0].label} ${frame[0].probability} ${features.length} ${logits.length} ${backend} ${adapter} ${code} ${heap} ${threads} ${fromFrame.length} ${fromUrl.length} ${fromUrlObject.length} ${why} ${warm} ${autoChose}`;
}
