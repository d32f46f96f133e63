//! Adapter, device and the limits this backend depends on.

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

pub(crate) struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// The adapter, named once ([`adapter_name`]).
    pub name: String,
    /// The limits granted to `device`; kernels and buffer splits follow these.
    pub limits: wgpu::Limits,
    /// `shader-f16` was requested and granted.
    pub f16: bool,
    /// The device has `timestamp-query` (used only when profiling).
    pub timestamps: bool,
    /// `subgroups` was requested and granted (only ever natively: wgpu
    /// does not offer it in a browser).
    pub subgroups: bool,
    /// The adapter is a CPU (a software rasteriser such as lavapipe).
    pub cpu: bool,
    /// Set once the device is lost; every later call fails with it.
    lost: Arc<Mutex<Option<String>>>,
    /// A wgpu error outside our error scopes. Natively wgpu's default
    /// handler panics on these; callers get [`Error::Backend`] instead.
    uncaptured: Arc<Mutex<Option<String>>>,
}

/// The optional device features to ask for; each is granted only where the adapter offers it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Wanted {
    pub f16: bool,
    pub subgroups: bool,
}

impl Context {
    /// Opens the adapter's device, asking for WebGPU's defaults (or whatever
    /// less the adapter has) plus storage bindings large enough for
    /// `arena_bytes` and, if the adapter allows, for all `weight_count`
    /// weights in one binding; with `want.f16`, also `shader-f16` where the
    /// adapter offers it (weights are then 2 bytes each), and with
    /// `want.subgroups`, `subgroups` likewise. `timestamp-query` too where
    /// offered: it costs a run that records no queries nothing, and lets any
    /// backend be profiled rather than needing a device of its own.
    pub async fn new(arena_bytes: u64, weight_count: u64, want: Wanted) -> Result<Self> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                Error::GpuUnavailable(format!(
                    "no GPU adapter found ({e}). In a browser, WebGPU needs a recent \
                     Chrome/Edge/Safari/Firefox in a secure context; natively, install a \
                     Vulkan/Metal/DX12 driver (on Linux, Mesa's lavapipe works)"
                ))
            })?;
        let info = adapter.get_info();
        let f16 = want.f16 && adapter.features().contains(wgpu::Features::SHADER_F16);
        let subgroups = want.subgroups && adapter.features().contains(wgpu::Features::SUBGROUP);
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let mut features = wgpu::Features::empty();
        features.set(wgpu::Features::SHADER_F16, f16);
        features.set(wgpu::Features::TIMESTAMP_QUERY, timestamps);
        features.set(wgpu::Features::SUBGROUP, subgroups);
        let weight_bytes = weight_count * if f16 { 2 } else { 4 };
        let available = adapter.limits();
        if arena_bytes > available.max_storage_buffer_binding_size {
            return Err(Error::Limit(format!(
                "activations need a {arena_bytes}-byte storage buffer; the adapter allows {}",
                available.max_storage_buffer_binding_size
            )));
        }
        let mut wanted = wgpu::Limits::defaults().or_worse_values_from(&available);
        let binding = arena_bytes.max(weight_bytes).min(available.max_storage_buffer_binding_size);
        wanted.max_storage_buffer_binding_size = wanted.max_storage_buffer_binding_size.max(binding);
        wanted.max_buffer_size = wanted.max_buffer_size.max(binding).min(available.max_buffer_size);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("webresnet"),
                required_limits: wanted,
                required_features: features,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::GpuUnavailable(format!("{}: cannot open device: {e}", info.name)))?;
        let limits = device.limits();
        let name = adapter_name(&info, &device);
        let lost = Arc::new(Mutex::new(None));
        let uncaptured = Arc::new(Mutex::new(None));
        let on_lost = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, msg| {
            *on_lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{reason:?}: {msg}"));
        });
        let on_error = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e| {
            on_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| e.to_string());
        }));
        let cpu = info.device_type == wgpu::DeviceType::Cpu;
        Ok(Context { device, queue, name, limits, f16, subgroups, timestamps, cpu, lost, uncaptured })
    }

    /// Fails if the device was lost ([`Error::GpuUnavailable`], so callers
    /// can fall back to the CPU) or raised an error outside a scope since the last call.
    pub fn health(&self) -> Result<()> {
        if let Some(why) = self.lost.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Err(Error::GpuUnavailable(format!("{}: GPU device lost ({why})", self.name)));
        }
        match self.uncaptured.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(e) => Err(Error::Backend(format!("GPU error: {e}"))),
            None => Ok(()),
        }
    }

    /// Runs `f` inside error scopes so wgpu errors come back as
    /// [`Error::Backend`] instead of reaching the uncaptured-error handler (a panic natively).
    pub async fn checked<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let filters = [wgpu::ErrorFilter::OutOfMemory, wgpu::ErrorFilter::Validation, wgpu::ErrorFilter::Internal];
        let mut scopes: Vec<_> = filters.iter().map(|&k| self.device.push_error_scope(k)).collect();
        let out = f();
        let mut failures = Vec::new();
        while let Some(scope) = scopes.pop() {
            if let Some(e) = scope.pop().await {
                failures.push(e.to_string());
            }
        }
        if failures.is_empty() {
            Ok(out)
        } else {
            Err(Error::Backend(format!("{what}: {}", failures.join("; "))))
        }
    }
}

/// wgpu's description of the adapter: name, backend, device type and driver.
fn wgpu_adapter_name(i: &wgpu::AdapterInfo) -> String {
    let driver = format!("{} {}", i.driver, i.driver_info);
    let mut out = format!("{} ({:?}, {:?}", i.name, i.backend, i.device_type);
    if !driver.trim().is_empty() {
        out += &format!(", {}", driver.trim());
    }
    out + ")"
}

/// The adapter as its user would name it: natively what wgpu reports.
#[cfg(not(target_arch = "wasm32"))]
fn adapter_name(info: &wgpu::AdapterInfo, _device: &wgpu::Device) -> String {
    wgpu_adapter_name(info)
}

/// The adapter as its user would name it: in a browser, the browser's words
/// for the device's own adapter (no second adapter is asked for); wgpu's
/// only where the browser gives none.
#[cfg(target_arch = "wasm32")]
fn adapter_name(info: &wgpu::AdapterInfo, device: &wgpu::Device) -> String {
    browser_adapter_name(device).unwrap_or_else(|| wgpu_adapter_name(info))
}

/// The browser's own words for the adapter: vendor, architecture and
/// description of `GPUDevice.adapterInfo`. wgpu keeps only the description,
/// which Chromium often leaves empty. Read through `Reflect` so a browser
/// without `adapterInfo` gives `None` instead of a JS exception.
#[cfg(target_arch = "wasm32")]
fn browser_adapter_name(device: &wgpu::Device) -> Option<String> {
    use js_sys::Reflect;
    let info = Reflect::get(device.as_webgpu()?.as_ref(), &"adapterInfo".into()).ok().filter(|v| v.is_object())?;
    let parts: Vec<String> = ["vendor", "architecture", "description"]
        .iter()
        .filter_map(|k| Reflect::get(&info, &(*k).into()).ok()?.as_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}
