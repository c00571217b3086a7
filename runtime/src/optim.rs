//! The optimizer: AdamW as PyTorch computes it (decoupled weight decay, bias-corrected moments,
//! ε added after the square root) with the learning rate given at each step, after clipping the
//! gradients by their global norm as `torch.nn.utils.clip_grad_norm_` does (Burn's own clipping
//! is per tensor). The moments are kept per parameter path (`layers.0.q.weight`), so a checkpoint
//! restores them into a freshly loaded model.

use std::collections::BTreeMap;

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

/// The settings of the plan's `adamw(...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamWSettings {
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    /// The largest global gradient norm (0: no clipping).
    pub grad_clip: f64,
}

/// First and second moments of one parameter, flattened.
pub struct Moments<B: Backend> {
    pub m: Tensor<B, 1>,
    pub v: Tensor<B, 1>,
}

pub struct AdamW<B: Backend> {
    pub settings: AdamWSettings,
    /// Updates made so far (the bias corrections' t).
    pub updates: u64,
    pub moments: BTreeMap<String, Moments<B>>,
}

/// What an update did, for metrics.
#[derive(Clone, Copy, Debug)]
pub struct UpdateReport {
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
}

impl<B: Backend> AdamW<B> {
    pub fn new(settings: AdamWSettings) -> Self {
        AdamW {
            settings,
            updates: 0,
            moments: BTreeMap::new(),
        }
    }

    /// One update of `model` with `grads` at learning rate `lr`. A non-finite gradient norm leaves
    /// the model and the moments untouched and is an error.
    pub fn step<A, M>(
        &mut self,
        lr: f64,
        model: M,
        mut grads: GradientsParams,
    ) -> Result<(M, UpdateReport), (M, String)>
    where
        A: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<A>,
    {
        let grad_norm = global_norm::<A, M>(&model, &grads);
        if !grad_norm.is_finite() {
            return Err((model, format!("the gradient norm is {grad_norm}")));
        }
        let clip = self.settings.grad_clip;
        // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
        let scale = if clip > 0.0 {
            (clip / (grad_norm + 1e-6)).min(1.0)
        } else {
            1.0
        };
        self.updates += 1;
        let mut mapper = Update::<A> {
            path: Vec::new(),
            grads: &mut grads,
            moments: &mut self.moments,
            settings: &self.settings,
            lr,
            scale,
            updates: self.updates,
        };
        let model = model.map(&mut mapper);
        Ok((model, UpdateReport { grad_norm }))
    }
}

/// The global L2 norm of the gradients of `model`'s parameters.
pub fn global_norm<A: AutodiffBackend, M: AutodiffModule<A>>(
    model: &M,
    grads: &GradientsParams,
) -> f64 {
    struct SquaredNorm<'a, A: AutodiffBackend> {
        grads: &'a GradientsParams,
        parts: Vec<Tensor<A::InnerBackend, 1>>,
    }
    impl<A: AutodiffBackend> ModuleVisitor<A> for SquaredNorm<'_, A> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<A, D>>) {
            if let Some(grad) = self.grads.get::<A::InnerBackend, D>(param.id) {
                self.parts.push(grad.powf_scalar(2.0).sum());
            }
        }
    }
    let mut visitor = SquaredNorm::<A> {
        grads,
        parts: Vec::new(),
    };
    model.visit(&mut visitor);
    if visitor.parts.is_empty() {
        return 0.0;
    }
    // One read back to the host for all parameters.
    let total: f64 = Tensor::cat(visitor.parts, 0)
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("f64 norms")
        .iter()
        .sum();
    total.sqrt()
}

struct Update<'a, A: AutodiffBackend> {
    path: Vec<String>,
    grads: &'a mut GradientsParams,
    moments: &'a mut BTreeMap<String, Moments<A::InnerBackend>>,
    settings: &'a AdamWSettings,
    lr: f64,
    scale: f64,
    updates: u64,
}

impl<A: AutodiffBackend> ModuleMapper<A> for Update<'_, A> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<A, D>>) -> Param<Tensor<A, D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<A::InnerBackend, D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let shape = tensor.shape();
        let count = shape.num_elements();
        let require_grad = tensor.is_require_grad();
        let value = tensor.inner().reshape([count]);
        let grad = grad.reshape([count]) * self.scale;
        let (beta1, beta2) = self.settings.betas;
        let key = self.path.join(".");
        let moments = self.moments.remove(&key).unwrap_or_else(|| Moments {
            m: value.zeros_like(),
            v: value.zeros_like(),
        });
        let m = moments.m * beta1 + grad.clone() * (1.0 - beta1);
        let v = moments.v * beta2 + grad.powf_scalar(2.0) * (1.0 - beta2);
        let t = self.updates as i32;
        let m_hat = m.clone() / (1.0 - beta1.powi(t));
        let v_hat = v.clone() / (1.0 - beta2.powi(t));
        let decayed = value * (1.0 - self.lr * self.settings.weight_decay);
        let updated = decayed - m_hat / (v_hat.sqrt() + self.settings.eps) * self.lr;
        self.moments.insert(key, Moments { m, v });
        let mut tensor = Tensor::from_inner(updated.reshape(shape));
        if require_grad {
            tensor = tensor.require_grad();
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// Every float parameter of a module with its path, on the host: what checkpoints save.
pub fn named_parameters<B: Backend, M: burn::module::Module<B>>(
    module: &M,
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    struct Collect<B: Backend> {
        path: Vec<String>,
        out: Vec<(String, Vec<usize>, Vec<f32>)>,
        _backend: std::marker::PhantomData<B>,
    }
    impl<B: Backend> ModuleVisitor<B> for Collect<B> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let tensor = param.val();
            let shape = tensor.dims().to_vec();
            let values = tensor
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .expect("f32 values");
            self.out.push((self.path.join("."), shape, values));
        }
    }
    let mut visitor = Collect::<B> {
        path: Vec::new(),
        out: Vec::new(),
        _backend: std::marker::PhantomData,
    };
    module.visit(&mut visitor);
    visitor.out
}

/// Replaces every float parameter by the value of the same path in `values` (same shape), keeping
/// parameter ids. A path missing from `values`, or a shape that differs, is an error.
pub fn load_parameters<B: Backend, M: burn::module::Module<B>>(
    module: M,
    values: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    device: &B::Device,
) -> Result<M, String> {
    struct Load<'a, B: Backend> {
        path: Vec<String>,
        values: &'a BTreeMap<String, (Vec<usize>, Vec<f32>)>,
        device: B::Device,
        error: Option<String>,
    }
    impl<B: Backend> ModuleMapper<B> for Load<'_, B> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, tensor, mapper) = param.consume();
            let key = self.path.join(".");
            let dims = tensor.dims();
            let tensor = match self.values.get(&key) {
                Some((shape, data)) if shape.as_slice() == dims.as_slice() => {
                    let require_grad = tensor.is_require_grad();
                    let loaded = Tensor::<B, D>::from_data(
                        burn::tensor::TensorData::new(data.clone(), dims),
                        &self.device,
                    );
                    if require_grad {
                        loaded.require_grad()
                    } else {
                        loaded
                    }
                }
                Some((shape, _)) => {
                    self.error.get_or_insert(format!(
                        "`{key}` has shape {shape:?}, the model expects {dims:?}"
                    ));
                    tensor
                }
                None => {
                    self.error.get_or_insert(format!("`{key}` is missing"));
                    tensor
                }
            };
            Param::from_mapped_value(id, tensor, mapper)
        }
    }
    let mut mapper = Load::<B> {
        path: Vec::new(),
        values,
        device: device.clone(),
        error: None,
    };
    let module = module.map(&mut mapper);
    match mapper.error {
        Some(error) => Err(error),
        None => Ok(module),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};

    type A = Autodiff<NdArray<f32>>;

    #[derive(Module, Debug)]
    struct Net<B: Backend> {
        first: Linear<B>,
        second: Linear<B>,
    }

    fn net() -> Net<A> {
        let device = Default::default();
        let first = LinearConfig::new(2, 2).init(&device);
        let second = LinearConfig::new(2, 1).init(&device);
        let mut values = BTreeMap::new();
        values.insert(
            "first.weight".into(),
            (vec![2, 2], vec![0.5, -1.0, 2.0, 0.25]),
        );
        values.insert("first.bias".into(), (vec![2], vec![0.1, -0.2]));
        values.insert("second.weight".into(), (vec![2, 1], vec![1.5, -0.5]));
        values.insert("second.bias".into(), (vec![1], vec![0.3]));
        load_parameters(Net { first, second }, &values, &device).unwrap()
    }

    fn grads_of(model: &Net<A>) -> GradientsParams {
        let device = Default::default();
        let x = Tensor::<A, 2>::from_floats([[1.0, 2.0], [-3.0, 0.5]], &device);
        let y = model.second.forward(model.first.forward(x));
        let loss = y.powf_scalar(2.0).sum();
        GradientsParams::from_grads(loss.backward(), model)
    }

    /// PyTorch's AdamW written out on the host for one parameter value.
    fn adamw_reference(p: f64, grads: &[f64], lr: f64, wd: f64) -> f64 {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let (mut p, mut m, mut v) = (p, 0.0, 0.0);
        for (t, g) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            p *= 1.0 - lr * wd;
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let (m_hat, v_hat) = (m / (1.0 - b1.powi(t)), v / (1.0 - b2.powi(t)));
            p -= lr * m_hat / (v_hat.sqrt() + eps);
        }
        p
    }

    #[test]
    fn clipping_uses_the_global_norm_and_adamw_matches_pytorch() {
        let model = net();
        let grads = grads_of(&model);
        let norm = global_norm::<A, _>(&model, &grads);
        // The norm by hand: every gradient of every parameter.
        let by_hand: f64 = {
            let named = |g: &GradientsParams, id| {
                g.get::<NdArray<f32>, 2>(id)
                    .map(|t| t.into_data().to_vec::<f32>().unwrap())
                    .unwrap_or_default()
            };
            let named1 = |g: &GradientsParams, id| {
                g.get::<NdArray<f32>, 1>(id)
                    .map(|t| t.into_data().to_vec::<f32>().unwrap())
                    .unwrap_or_default()
            };
            let mut all = named(&grads, model.first.weight.id);
            all.extend(named(&grads, model.second.weight.id));
            all.extend(named1(&grads, model.first.bias.as_ref().unwrap().id));
            all.extend(named1(&grads, model.second.bias.as_ref().unwrap().id));
            all.iter()
                .map(|g| f64::from(*g).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        assert!(
            (norm - by_hand).abs() < 1e-4 * by_hand,
            "{norm} vs {by_hand}"
        );

        // Clip to a third of the norm: every gradient is scaled by the same factor.
        let settings = AdamWSettings {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.1,
            grad_clip: norm / 3.0,
        };
        let g0 = grads
            .get::<NdArray<f32>, 1>(model.second.bias.as_ref().unwrap().id)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap()[0] as f64;
        let mut optimizer = AdamW::new(settings);
        let (model, report) = optimizer.step::<A, _>(0.01, model, grads).ok().unwrap();
        assert!((report.grad_norm - norm).abs() < 1e-9);
        let scale = (norm / 3.0) / (norm + 1e-6);
        let after = model
            .second
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .to_vec::<f32>()
            .unwrap()[0];
        let expected = adamw_reference(0.3, &[g0 * scale], 0.01, 0.1);
        assert!(
            (f64::from(after) - expected).abs() < 1e-6,
            "{after} vs {expected}"
        );
        // A second step uses the moments of the first.
        let grads = grads_of(&model);
        let g1 = grads
            .get::<NdArray<f32>, 1>(model.second.bias.as_ref().unwrap().id)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap()[0] as f64;
        let norm1 = global_norm::<A, _>(&model, &grads);
        let scale1 = ((norm / 3.0) / (norm1 + 1e-6)).min(1.0);
        let (model, _) = optimizer.step::<A, _>(0.01, model, grads).ok().unwrap();
        let after = model
            .second
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .to_vec::<f32>()
            .unwrap()[0];
        let expected = adamw_reference(0.3, &[g0 * scale, g1 * scale1], 0.01, 0.1);
        assert!(
            (f64::from(after) - expected).abs() < 1e-5,
            "{after} vs {expected}"
        );
        assert_eq!(optimizer.moments.len(), 4);
        assert!(optimizer.moments.contains_key("first.weight"));
    }

    #[test]
    fn parameters_round_trip_by_path() {
        let model = net();
        let named = named_parameters(&model);
        let names: Vec<&str> = named.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["first.weight", "first.bias", "second.weight", "second.bias"]
        );
        let mut values: BTreeMap<_, _> = named.into_iter().map(|(n, s, v)| (n, (s, v))).collect();
        values.get_mut("second.bias").unwrap().1[0] = 9.0;
        let loaded = load_parameters(model, &values, &Default::default()).unwrap();
        let bias = loaded
            .second
            .bias
            .unwrap()
            .val()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(bias, vec![9.0]);
        values.remove("first.bias");
        let error = load_parameters(net(), &values, &Default::default()).unwrap_err();
        assert!(error.contains("`first.bias` is missing"), "{error}");
    }
}
