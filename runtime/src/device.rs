//! Choosing the backend: Burn's ndarray on the CPU, or burn-cuda when built with the `cuda` feature.

use rlx_compiler::plan::Plan;

use crate::train::{Event, RunOptions, Summary, run};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda,
}

/// The CPU backend training runs on.
pub type Cpu = burn::backend::Autodiff<burn::backend::NdArray<f32>>;

pub fn run_on(
    device: Device,
    plan: &Plan,
    options: &RunOptions,
    events: &mut dyn FnMut(Event),
) -> Result<Summary, String> {
    match device {
        Device::Cpu => run::<Cpu>(plan, options, &Default::default(), events),
        Device::Cuda => cuda(plan, options, events),
    }
}

#[cfg(feature = "cuda")]
fn cuda(
    plan: &Plan,
    options: &RunOptions,
    events: &mut dyn FnMut(Event),
) -> Result<Summary, String> {
    type Gpu = burn::backend::Autodiff<burn::backend::Cuda>;
    // cubecl panics when libcuda or NVRTC cannot be loaded: try a tensor first, quietly.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| {
        let device = burn::backend::cuda::CudaDevice::default();
        let _ = burn::tensor::Tensor::<burn::backend::Cuda, 1>::zeros([1], &device).into_data();
        device
    });
    std::panic::set_hook(previous);
    let device = probe.map_err(|_| {
        "no usable CUDA device: libcuda and NVRTC must be installed (CUDA_PATH, /usr/local/cuda)"
            .to_string()
    })?;
    run::<Gpu>(plan, options, &device, events)
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: &Plan, _: &RunOptions, _: &mut dyn FnMut(Event)) -> Result<Summary, String> {
    Err("this rlxc was built without CUDA: build it with `cargo build --release -p rlxc --features cuda`".into())
}
