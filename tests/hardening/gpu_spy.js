// Init script (runs before the page's own scripts): wraps the WebGPU API so
// the hardening tests can destroy the device the package opened (a lost GPU),
// refuse new adapters, count GPU buffers alive, and see work being submitted.
// Plain script, not a module: playwright injects it as source text.
(() => {
  if (typeof GPUAdapter !== "function") return;
  // Buffers alive per device; a lost device's go with it.
  const live = new Map();
  const owner = new WeakMap();
  const spy = {
    devices: [],
    created: 0,
    submits: 0,
    refuseAdapters: false,
    liveBuffers: () => [...live.values()].reduce((n, set) => n + set.size, 0),
  };
  globalThis.gpuSpy = spy;

  const requestAdapter = GPU.prototype.requestAdapter;
  GPU.prototype.requestAdapter = function (...args) {
    return spy.refuseAdapters ? Promise.resolve(null) : requestAdapter.apply(this, args);
  };
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    spy.devices.push(device);
    live.set(device, new Set());
    device.lost.then(() => live.delete(device));
    return device;
  };
  // A buffer counts as alive from createBuffer until destroy(): a buffer left
  // to the garbage collector holds GPU memory until it runs, so it counts too.
  const createBuffer = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function (...args) {
    const buffer = createBuffer.apply(this, args);
    spy.created++;
    live.get(this)?.add(buffer);
    owner.set(buffer, this);
    return buffer;
  };
  const destroy = GPUBuffer.prototype.destroy;
  GPUBuffer.prototype.destroy = function (...args) {
    live.get(owner.get(this))?.delete(this);
    return destroy.apply(this, args);
  };
  const submit = GPUQueue.prototype.submit;
  GPUQueue.prototype.submit = function (...args) {
    spy.submits++;
    return submit.apply(this, args);
  };
})();
