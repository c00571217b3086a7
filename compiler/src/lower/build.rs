//! From lowered terms to the plan's typed settings: models, datasets, the optimizer and stages.

use super::*;

impl<'a> Lowerer<'a> {
    pub(super) fn plan(&mut self, train: &'a TrainDecl, input: &LowerInput<'a>) -> Option<Plan> {
        let models = self.models(input.module);
        let datasets = self.datasets(input.module);
        let mut origins = BTreeMap::new();
        let frame = settings_frame(ModuleId::Recipe, "train".into());
        let mut optimizer = None;
        let mut seed = 42;
        origins.insert(
            "seed".to_string(),
            Origin::Default {
                function: "train".into(),
            },
        );
        let mut stages = Vec::new();
        for entry in &train.entries {
            match &entry.kind {
                EntryKind::Setting { key, value } if key.name == "optimizer" => {
                    self.fresh(value.span);
                    let bound = self.bind(key.name.clone(), value, &frame);
                    optimizer = self.optimizer(&bound, &mut origins);
                }
                EntryKind::Setting { key, value } if key.name == "seed" => {
                    self.fresh(value.span);
                    let bound = self.bind(key.name.clone(), value, &frame);
                    origins.insert("seed".into(), bound.origin.clone());
                    seed = self.int_of(&bound, "seed")?;
                }
                EntryKind::Stage { name, value } => {
                    let errors = self.error_count();
                    match self.stage(name, value) {
                        Some(stage) => stages.push(stage),
                        None if self.error_count() == errors => self.error(
                            Code::E0408,
                            name.span,
                            format!("the compiler could not lower the stage `{}` (a bug in rlxc: please report it with the recipe)", name.name),
                            "while lowering this stage",
                        ),
                        None => {}
                    }
                }
                _ => {}
            }
        }
        let written = train
            .entries
            .iter()
            .any(|e| matches!(e.kind, EntryKind::Stage { .. }));
        if !written {
            self.error(
                Code::E0409,
                train.model.span,
                "this `train` block has no stages: nothing would run".into(),
                "no `stage` in it",
            );
        }
        let optimizer = match optimizer {
            Some(optimizer) => optimizer,
            None => self.default_optimizer(&mut origins)?,
        };
        if !models.iter().any(|m| m.name == train.model.name) {
            self.error(
                Code::E0408,
                train.model.span,
                format!("`{}` is not a model of this recipe", train.model.name),
                "not a `model`",
            );
            return None;
        }
        Some(Plan {
            version: PLAN_VERSION,
            recipe: input.source.name.clone(),
            base_dir: input.base_dir.clone(),
            seed,
            policy: train.model.name.clone(),
            models,
            datasets,
            optimizer,
            stages,
            origins,
        })
    }

    /// A reward of the recipe as a graph of its own (see [`lower_reward`]).
    pub(super) fn reward_graph(&mut self, name: &str) -> Option<Result<RewardGraph, String>> {
        let known = || {
            let names = reward_names(self.recipe);
            if names.is_empty() {
                "the recipe defines no reward".to_string()
            } else {
                format!("its rewards: {}", names.join(", "))
            }
        };
        let Some((module, item)) = self.global(ModuleId::Recipe, name) else {
            return Some(Err(format!(
                "no reward `{name}` in the recipe ({})",
                known()
            )));
        };
        let (ItemKind::Reward(f) | ItemKind::Fn(f)) = &item.kind else {
            return Some(Err(format!("`{name}` is not a reward ({})", known())));
        };
        if !self.per_completion(module, &f.params) {
            return Some(Err(format!(
                "`{name}` is not a reward of a completion: its parameters must be a completion, a row of a dataset, or the group"
            )));
        }
        let dataset = f
            .params
            .iter()
            .find_map(|p| match p.ty.as_ref().map(|t| &t.kind) {
                Some(TypeKind::Named { name, .. }) if self.is_dataset(module, &name.name) => {
                    Some((name.name.clone(), p.span))
                }
                _ => None,
            });
        if let Some((dataset, span)) = &dataset {
            self.row = Some(RowContext {
                fields: self.dataset_fields(dataset, 0),
                dataset: dataset.clone(),
                data_span: self.recipe_span(module, *span),
                stage: None,
            });
        }
        self.anchor = self.recipe_span(module, f.name.span);
        self.terms = Some(Vec::new());
        let term = self.apply_implicitly(module, item, f, f.name.span);
        let terms = self.terms.take().unwrap_or_default();
        let reward = self.term_node(term, f.name.span, module)?;
        let mut roots = vec![reward];
        roots.extend(terms.iter().map(|(_, node)| *node));
        let (graph, map) = self.graph.compact(&roots);
        Some(Ok(RewardGraph {
            name: name.to_string(),
            graph,
            reward: map[&reward],
            terms: terms
                .into_iter()
                .map(|(name, node)| RewardTerm {
                    name,
                    node: map[&node],
                })
                .collect(),
            dataset: dataset.map(|(d, _)| d),
        }))
    }

    fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Starts a new graph for a value written at `anchor`.
    fn fresh(&mut self, anchor: Span) {
        self.graph = GraphBuilder::default();
        self.anchor = anchor;
        self.row = None;
    }

    // ---- converting terms ----

    fn not_constant(&mut self, bound: &Bound<'a>, what: &str, why: &str) {
        let span = bound.span.unwrap_or(self.anchor);
        self.error(
            Code::E0408,
            span,
            format!("`{what}` must be known before training, but {why}"),
            "not a constant",
        );
    }

    fn value_of(&mut self, bound: &Bound<'a>, what: &str) -> Option<Value> {
        match &bound.term {
            Term::Node(id) => match self.graph.constant(*id) {
                Some(value) => Some(value),
                None => {
                    self.not_constant(bound, what, "it depends on the data or the step");
                    None
                }
            },
            Term::Error => None,
            _ => {
                self.not_constant(bound, what, "it is not a number, text or bool");
                None
            }
        }
    }

    fn float_of(&mut self, bound: &Bound<'a>, what: &str) -> Option<f64> {
        let value = self.value_of(bound, what)?;
        value.as_f64().or_else(|| {
            self.not_constant(bound, what, "it is not a number");
            None
        })
    }

    fn int_of<T: TryFrom<i64>>(&mut self, bound: &Bound<'a>, what: &str) -> Option<T> {
        let value = self.float_of(bound, what)?;
        if value.fract() == 0.0
            && let Ok(v) = T::try_from(value as i64)
        {
            return Some(v);
        }
        self.not_constant(
            bound,
            what,
            &format!("{value} is not a whole number in range"),
        );
        None
    }

    fn bool_of(&mut self, bound: &Bound<'a>, what: &str) -> Option<bool> {
        match self.value_of(bound, what)? {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn text_of(&mut self, bound: &Bound<'a>, what: &str) -> Option<String> {
        match self.value_of(bound, what)? {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    fn is_none(&self, bound: &Bound<'a>) -> bool {
        matches!(&bound.term, Term::Node(id) if self.graph.constant(*id) == Some(Value::None))
    }

    fn schedule_of(&mut self, bound: &Bound<'a>, what: &str) -> Option<Schedule> {
        let Term::Node(id) = bound.term else {
            if !matches!(bound.term, Term::Error) {
                self.not_constant(bound, what, "it is not a number");
            }
            return None;
        };
        if self.graph.per_example(id) {
            let span = bound.span.unwrap_or(self.anchor);
            self.error(
                Code::E0408,
                span,
                format!(
                    "`{what}` is a schedule: it may depend on `step`, `stage_step` and `progress`, but not on a completion or a row"
                ),
                "depends on the data",
            );
            return None;
        }
        let (graph, map) = self.graph.compact(&[id]);
        Some(Schedule {
            graph,
            output: map[&id],
        })
    }

    fn symbol_of(&mut self, bound: &Bound<'a>, what: &str) -> Option<String> {
        match &bound.term {
            Term::Symbol(s) => Some(s.clone()),
            Term::Error => None,
            _ => {
                self.not_constant(bound, what, "it is not one of its named values");
                None
            }
        }
    }

    fn construct_of(&mut self, bound: &Bound<'a>, what: &str) -> Option<Rc<Construct<'a>>> {
        match &bound.term {
            Term::Construct(c) => Some(c.clone()),
            Term::Error => None,
            _ => {
                self.not_constant(bound, what, "it is not built by a constructor");
                None
            }
        }
    }

    fn kl_of(&mut self, bound: &Bound<'a>, what: &str) -> Option<Option<Kl>> {
        if self.is_none(bound) {
            return Some(None);
        }
        let construct = self.construct_of(bound, what)?;
        let estimator = match construct.function.as_str() {
            "k1" => KlEstimator::K1,
            "k2" => KlEstimator::K2,
            _ => KlEstimator::K3,
        };
        let beta = construct.arg("beta")?.clone();
        let beta = self.schedule_of(&beta, &format!("{what}.beta"))?;
        let weight = construct.arg("weight")?.clone();
        let weight = if self.is_none(&weight) {
            None
        } else {
            Some(self.term_node(weight.term.clone(), construct.span, ModuleId::Recipe)?)
        };
        let aggregate = construct.arg("aggregate")?.clone();
        let aggregate = if self.is_none(&aggregate) {
            None
        } else {
            Some(self.aggregation_of(&aggregate, &format!("{what}.aggregate"))?)
        };
        Some(Some(Kl {
            estimator,
            beta,
            weight,
            aggregate,
        }))
    }

    fn aggregation_of(&mut self, bound: &Bound<'a>, what: &str) -> Option<Aggregation> {
        Some(match self.symbol_of(bound, what)?.as_str() {
            "token_mean" => Aggregation::TokenMean,
            "seq_mean_token_sum_norm" => Aggregation::SeqMeanTokenSumNorm,
            _ => Aggregation::SeqMeanTokenMean,
        })
    }

    /// `perception = papo(gamma = ..., ...)`, or none.
    fn perception_of(&mut self, bound: &Bound<'a>) -> Option<Option<Perception>> {
        if self.is_none(bound) {
            return Some(None);
        }
        let construct = self.construct_of(bound, "perception")?;
        let get = |n: &str| construct.arg(n).cloned();
        Some(Some(Perception {
            gamma: self.schedule_of(&get("gamma")?, "perception.gamma")?,
            masked_entropy: self
                .schedule_of(&get("masked_entropy")?, "perception.masked_entropy")?,
            entropy: self.schedule_of(&get("entropy")?, "perception.entropy")?,
            patch: self.int_of(&get("patch")?, "perception.patch")?,
            prob: self.float_of(&get("prob")?, "perception.prob")?,
        }))
    }

    fn record(origins: &mut BTreeMap<String, Origin>, prefix: &str, construct: &Construct<'a>) {
        for arg in &construct.args {
            origins.insert(format!("{prefix}{}", arg.name), arg.origin.clone());
        }
    }

    // ---- models and datasets ----

    fn models(&mut self, module: &'a Module) -> Vec<ModelPlan> {
        let mut models = Vec::new();
        for item in &module.items {
            let ItemKind::Model(m) = &item.kind else {
                continue;
            };
            self.fresh(m.value.span);
            let frame = settings_frame(ModuleId::Recipe, m.name.name.clone());
            let bound = self.bind(m.name.name.clone(), &m.value, &frame);
            let Some(construct) = self.construct_of(&bound, &m.name.name) else {
                continue;
            };
            let mut args = BTreeMap::new();
            for arg in &construct.args {
                if let Some(value) = self.value_of(arg, &arg.name) {
                    args.insert(arg.name.clone(), value);
                }
            }
            models.push(ModelPlan {
                name: m.name.name.clone(),
                constructor: construct.function.clone(),
                args,
            });
        }
        models
    }

    /// The fields of a dataset as name and type: its schema, or for a `mix` without one the
    /// fields its parts share.
    fn dataset_fields(&self, name: &str, depth: usize) -> Option<Vec<(String, String)>> {
        let (_, item) = self.global(ModuleId::Recipe, name)?;
        let ItemKind::Dataset(d) = &item.kind else {
            return None;
        };
        if let Some(schema) = &d.schema {
            return Some(
                schema
                    .iter()
                    .map(|f| (f.name.name.clone(), type_text(&f.ty)))
                    .collect(),
            );
        }
        let sources: Vec<&str> = match &d.source.kind {
            ExprKind::Mix(parts) => parts.iter().map(|p| p.dataset.name.as_str()).collect(),
            ExprKind::Name(parent) => vec![parent.name.as_str()],
            _ => return None,
        };
        if depth > 16 {
            return None;
        }
        let mut shared: Option<Vec<(String, String)>> = None;
        for source in sources {
            let fields = self.dataset_fields(source, depth + 1)?;
            shared = Some(match shared {
                None => fields,
                Some(previous) => previous
                    .into_iter()
                    .filter(|f| fields.contains(f))
                    .collect(),
            });
        }
        shared
    }

    fn datasets(&mut self, module: &'a Module) -> Vec<DatasetPlan> {
        let mut datasets = Vec::new();
        for item in &module.items {
            let ItemKind::Dataset(d) = &item.kind else {
                continue;
            };
            if let Some(dataset) = self.dataset(d) {
                datasets.push(dataset);
            }
        }
        datasets
    }

    fn dataset(&mut self, d: &'a DatasetDecl) -> Option<DatasetPlan> {
        self.fresh(d.source.span);
        let frame = Frame {
            module: ModuleId::Recipe,
            bindings: Vec::new(),
            settings: false,
            owner: d.name.name.clone(),
        };
        let source = match &d.source.kind {
            ExprKind::Mix(parts) => {
                let mut weighted = Vec::new();
                for part in parts {
                    let bound = self.bind(part.dataset.name.clone(), &part.weight, &frame);
                    weighted.push((
                        part.dataset.name.clone(),
                        self.float_of(&bound, "a weight")?,
                    ));
                }
                let total: f64 = weighted.iter().map(|(_, w)| w).sum();
                if total <= 0.0 || weighted.iter().any(|(_, w)| *w < 0.0) {
                    self.error(
                        Code::E0311,
                        d.source.span,
                        "the weights of a `mix` must be positive".into(),
                        "weights",
                    );
                    return None;
                }
                DataSource::Mix {
                    parts: weighted
                        .into_iter()
                        .map(|(name, w)| (name, w / total))
                        .collect(),
                }
            }
            // `dataset hard = all where ...`: another dataset's rows, through its own clauses.
            ExprKind::Name(parent) if self.is_dataset(ModuleId::Recipe, &parent.name) => {
                DataSource::Mix {
                    parts: vec![(parent.name.clone(), 1.0)],
                }
            }
            _ => {
                let bound = self.bind("source".into(), &d.source, &frame);
                let construct = self.construct_of(&bound, "the source")?;
                let path = construct.arg("path")?.clone();
                DataSource::File {
                    format: construct.function.clone(),
                    path: self.text_of(&path, "the path")?,
                }
            }
        };
        let fields = d
            .schema
            .iter()
            .flatten()
            .map(|f| FieldPlan {
                name: f.name.name.clone(),
                key: field_key(f).unwrap_or_else(|| f.name.name.clone()),
                ty: type_text(&f.ty),
            })
            .collect();
        self.row = Some(RowContext {
            dataset: d.name.name.clone(),
            fields: self.dataset_fields(&d.name.name, 0),
            data_span: d.name.span,
            stage: None,
        });
        let frame = Frame {
            bindings: vec![Bound {
                name: "ex".into(),
                term: Term::Row,
                origin: Origin::Default {
                    function: "dataset".into(),
                },
                span: None,
            }],
            ..frame
        };
        let mut filter: Option<NodeId> = None;
        let mut order = None;
        for clause in &d.clauses {
            match clause {
                DataClause::Where(condition) => {
                    let node = self.node(condition, &frame)?;
                    filter = Some(match filter {
                        None => node,
                        Some(previous) => self.graph.add(
                            Op::Binary {
                                operator: BinaryOperator::And,
                            },
                            vec![previous, node],
                            "bool".into(),
                        ),
                    });
                }
                DataClause::OrderBy { key, descending } => {
                    order = Some((self.node(key, &frame)?, *descending));
                }
            }
        }
        let roots: Vec<NodeId> = filter
            .iter()
            .chain(order.iter().map(|(k, _)| k))
            .copied()
            .collect();
        let (graph, map) = self.graph.compact(&roots);
        self.row = None;
        Some(DatasetPlan {
            name: d.name.name.clone(),
            source,
            fields,
            graph,
            filter: filter.map(|f| map[&f]),
            order: order.map(|(key, descending)| Order {
                key: map[&key],
                descending,
            }),
        })
    }

    // ---- optimizer ----

    fn optimizer(
        &mut self,
        bound: &Bound<'a>,
        origins: &mut BTreeMap<String, Origin>,
    ) -> Option<OptimizerPlan> {
        let construct = self.construct_of(bound, "optimizer")?;
        Self::record(origins, "optimizer.", &construct);
        let get = |name: &str| construct.arg(name).cloned();
        let lr = self.schedule_of(&get("lr")?, "optimizer.lr")?;
        let betas = match self.value_of(&get("betas")?, "betas")? {
            Value::Tuple(items) if items.len() == 2 => (items[0].as_f64()?, items[1].as_f64()?),
            _ => return None,
        };
        Some(OptimizerPlan {
            kind: construct.function.clone(),
            lr,
            weight_decay: self.float_of(&get("weight_decay")?, "weight_decay")?,
            betas,
            eps: self.float_of(&get("eps")?, "eps")?,
            grad_clip: self.float_of(&get("grad_clip")?, "grad_clip")?,
        })
    }

    /// `adamw(lr = 1e-6)`, verl's actor default, when the recipe names no optimizer.
    fn default_optimizer(
        &mut self,
        origins: &mut BTreeMap<String, Origin>,
    ) -> Option<OptimizerPlan> {
        let (module, item) = self.prelude("adamw")?;
        self.graph = GraphBuilder::default();
        let lr = self.graph.value(Value::Float(1e-6));
        let args = vec![Bound {
            name: "lr".into(),
            term: Term::Node(lr),
            origin: Origin::Default {
                function: "train".into(),
            },
            span: None,
        }];
        let term = self.apply(module, item, args, self.anchor);
        let bound = Bound {
            name: "optimizer".into(),
            term,
            origin: Origin::Default {
                function: "train".into(),
            },
            span: None,
        };
        self.optimizer(&bound, origins)
    }

    // ---- stages ----

    fn stage(&mut self, name: &'a Ident, value: &'a Expr) -> Option<StagePlan> {
        let ExprKind::BlockCall { callee, entries } = &value.kind else {
            self.error(
                Code::E0408,
                value.span,
                "a stage is written `sft { ... }` or `rl { ... }`".into(),
                "not a stage",
            );
            return None;
        };
        let (module, item) = self.prelude(&callee.name)?;
        self.fresh(value.span);
        let data = entries.iter().find_map(|e| match &e.kind {
            EntryKind::Setting { key, value } if key.name == "data" => Some(value),
            _ => None,
        })?;
        let dataset = self.dataset_name(data)?;
        self.row = Some(RowContext {
            fields: self.dataset_fields(&dataset, 0),
            dataset: dataset.clone(),
            data_span: data.span,
            stage: Some(name.name.clone()),
        });
        let frame = settings_frame(ModuleId::Recipe, name.name.clone());
        let mut terms = Vec::new();
        let mut args = Vec::new();
        for entry in entries {
            self.anchor = entry.span;
            let reward =
                matches!(&entry.kind, EntryKind::Setting { key, .. } if key.name == "reward");
            if reward {
                self.terms = Some(Vec::new());
            }
            args.extend(self.entries(std::slice::from_ref(entry), &frame));
            if reward {
                terms = self.terms.take().unwrap_or_default();
            }
        }
        self.anchor = value.span;
        let prompt_name = entries.iter().find_map(|e| match &e.kind {
            EntryKind::Setting { key, value } if key.name == "prompt" => match &value.kind {
                ExprKind::Name(n) => Some(n.name.clone()),
                _ => Some("prompt".to_string()),
            },
            _ => None,
        });
        let Term::Construct(construct) = self.apply(module, item, args, value.span) else {
            return None;
        };
        let mut origins = BTreeMap::new();
        Self::record(&mut origins, "", &construct);
        let get = |n: &str| construct.arg(n).cloned();
        let lr = get("lr")?;
        let lr = if self.is_none(&lr) {
            None
        } else {
            Some(self.schedule_of(&lr, "lr")?)
        };
        let eval = self.eval_settings(&get("eval")?)?;
        let kind = if callee.name == "sft" {
            self.sft(&construct, prompt_name)?
        } else {
            self.rl(&construct, prompt_name, terms, &mut origins)?
        };
        Some(self.finish_stage(name, dataset, lr, eval, kind, origins))
    }

    fn dataset_name(&mut self, data: &'a Expr) -> Option<String> {
        if let ExprKind::Name(n) = &data.kind
            && let Some((_, item)) = self.global(ModuleId::Recipe, &n.name)
            && let ItemKind::Dataset(d) = &item.kind
        {
            return Some(d.name.name.clone());
        }
        self.error(
            Code::E0408,
            data.span,
            "a stage's `data` names a dataset declared with `dataset`".into(),
            "not a declared dataset",
        );
        None
    }

    fn eval_settings(&mut self, bound: &Bound<'a>) -> Option<Option<EvalPlan>> {
        if self.is_none(bound) {
            return Some(None);
        }
        let construct = self.construct_of(bound, "eval")?;
        let get = |n: &str| construct.arg(n).cloned();
        let data = match &get("data")?.term {
            Term::Dataset(name) => name.clone(),
            _ => return None,
        };
        Some(Some(EvalPlan {
            data,
            every: self.int_of(&get("every")?, "eval.every")?,
            max_tokens: self.int_of(&get("max_tokens")?, "eval.max_tokens")?,
        }))
    }

    fn prompt_of(&mut self, bound: &Bound<'a>, name: Option<String>) -> Option<PromptPlan> {
        match &bound.term {
            Term::Chat(messages) => Some(PromptPlan {
                name: name.unwrap_or_else(|| "prompt".into()),
                messages: messages.as_ref().clone(),
            }),
            Term::Error => None,
            _ => {
                self.not_constant(bound, "prompt", "it is not a `chat { ... }` prompt");
                None
            }
        }
    }

    fn sft(&mut self, construct: &Construct<'a>, prompt_name: Option<String>) -> Option<StageKind> {
        let get = |n: &str| construct.arg(n).cloned();
        let target = get("target")?;
        let target = self.term_node(target.term.clone(), construct.span, ModuleId::Recipe)?;
        let prompt = get("prompt")?;
        let prompt = if self.is_none(&prompt) {
            None
        } else {
            Some(self.prompt_of(&prompt, prompt_name)?)
        };
        Some(StageKind::Sft(SftPlan {
            target,
            prompt,
            epochs: self.int_of(&get("epochs")?, "epochs")?,
            batch: self.int_of(&get("batch")?, "batch")?,
        }))
    }

    fn rl(
        &mut self,
        construct: &Construct<'a>,
        prompt_name: Option<String>,
        terms: Vec<(String, NodeId)>,
        origins: &mut BTreeMap<String, Origin>,
    ) -> Option<StageKind> {
        let get = |n: &str| construct.arg(n).cloned();
        let prompt = self.prompt_of(&get("prompt")?, prompt_name)?;
        let reward = self.term_node(get("reward")?.term, construct.span, ModuleId::Recipe)?;
        let filter = get("filter")?;
        let filter = if self.is_none(&filter) {
            None
        } else {
            Some(self.term_node(filter.term.clone(), construct.span, ModuleId::Recipe)?)
        };
        let rollout = get("rollout")?;
        let rollout = if self.is_none(&rollout) {
            self.defaults_of("rollout", construct.span)?
        } else {
            self.construct_of(&rollout, "rollout")?
        };
        Self::record(origins, "rollout.", &rollout);
        let algorithm = get("algorithm")?;
        let algorithm = if self.is_none(&algorithm) {
            self.defaults_of("grpo", construct.span)?
        } else {
            self.construct_of(&algorithm, "algorithm")?
        };
        Self::record(origins, "algorithm.", &algorithm);
        let rollout = self.rollout(&rollout)?;
        let algorithm = self.algorithm(&algorithm)?;
        Some(StageKind::Rl(RlPlan {
            prompt,
            reward,
            terms: terms
                .into_iter()
                .map(|(name, node)| RewardTerm { name, node })
                .collect(),
            filter,
            steps: self.int_of(&get("steps")?, "steps")?,
            batch: self.int_of(&get("batch")?, "batch")?,
            minibatch: self.int_of(&get("minibatch")?, "minibatch")?,
            shuffle: self.bool_of(&get("shuffle")?, "shuffle")?,
            rollout,
            algorithm,
        }))
    }

    /// `function {}`: a preset or settings block with all its defaults.
    fn defaults_of(&mut self, function: &str, span: Span) -> Option<Rc<Construct<'a>>> {
        let (module, item) = self.prelude(function)?;
        match self.apply(module, item, Vec::new(), span) {
            Term::Construct(c) => Some(c),
            _ => None,
        }
    }

    fn rollout(&mut self, construct: &Construct<'a>) -> Option<RolloutPlan> {
        let get = |n: &str| construct.arg(n).cloned();
        let stop = match self.value_of(&get("stop")?, "rollout.stop")? {
            Value::List(items) => items
                .into_iter()
                .filter_map(|v| match v {
                    Value::Text(t) => Some(t),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(RolloutPlan {
            temperature: self.float_of(&get("temperature")?, "rollout.temperature")?,
            top_p: self.float_of(&get("top_p")?, "rollout.top_p")?,
            top_k: self.int_of(&get("top_k")?, "rollout.top_k")?,
            max_tokens: self.int_of(&get("max_tokens")?, "rollout.max_tokens")?,
            max_prompt: self.int_of(&get("max_prompt")?, "rollout.max_prompt")?,
            stop,
        })
    }

    fn algorithm(&mut self, construct: &Construct<'a>) -> Option<AlgorithmPlan> {
        let get = |n: &str| construct.arg(n).cloned();
        let clip = match self.value_of(&get("clip")?, "clip")? {
            Value::Tuple(items) if items.len() == 2 => (items[0].as_f64()?, items[1].as_f64()?),
            _ => return None,
        };
        let dual_clip = get("dual_clip")?;
        let dual_clip = if self.is_none(&dual_clip) {
            None
        } else {
            Some(self.float_of(&dual_clip, "dual_clip")?)
        };
        let baseline = match self.symbol_of(&get("baseline")?, "baseline")?.as_str() {
            "leave_one_out" => Baseline::LeaveOneOut,
            "batch_mean" => Baseline::BatchMean,
            "no_baseline" => Baseline::None,
            _ => Baseline::GroupMean,
        };
        let scale = match self.symbol_of(&get("scale")?, "scale")?.as_str() {
            "batch_std" => Scaling::BatchStd,
            "no_scaling" => Scaling::None,
            _ => Scaling::GroupStd,
        };
        let aggregate = self.aggregation_of(&get("aggregate")?, "aggregate")?;
        let kl_bound = get("kl")?;
        let kl_reward_bound = get("kl_reward")?;
        let kl = self.kl_of(&kl_bound, "kl")?;
        let kl_reward = self.kl_of(&kl_reward_bound, "kl_reward")?;
        if kl.is_some() && kl_reward.is_some() {
            self.kl_twice(construct, &kl_bound, &kl_reward_bound);
        }
        let advantage = get("advantage")?;
        let advantage = if self.is_none(&advantage) {
            None
        } else {
            Some(self.term_node(advantage.term.clone(), construct.span, ModuleId::Recipe)?)
        };
        Some(AlgorithmPlan {
            preset: construct
                .preset
                .clone()
                .unwrap_or_else(|| construct.function.clone()),
            group: self.int_of(&get("group")?, "group")?,
            clip_low: clip.0,
            clip_high: clip.1,
            dual_clip,
            sequence_ratio: self.bool_of(&get("sequence_ratio")?, "sequence_ratio")?,
            baseline,
            scale,
            kl,
            kl_reward,
            aggregate,
            norm_length: self.int_of(&get("norm_length")?, "norm_length")?,
            dynamic_sampling: self.bool_of(&get("dynamic_sampling")?, "dynamic_sampling")?,
            epochs: self.int_of(&get("epochs")?, "epochs")?,
            minibatch: self.int_of(&get("minibatch")?, "minibatch")?,
            advantage,
            entropy: self.float_of(&get("entropy")?, "entropy")?,
            perception: self.perception_of(&get("perception")?)?,
        })
    }

    /// verl's `use_kl_loss` and `use_kl_in_reward` both on: the policy would be pulled towards
    /// the reference twice, with two betas to tune.
    fn kl_twice(&mut self, construct: &Construct<'a>, kl: &Bound<'a>, kl_reward: &Bound<'a>) {
        let preset = construct
            .preset
            .clone()
            .unwrap_or_else(|| construct.function.clone());
        let describe = |bound: &Bound<'a>| match &bound.origin {
            Origin::Recipe { .. } => "set here".to_string(),
            other => format!("the {other}"),
        };
        let (primary, secondary) = match (kl.span, kl_reward.span) {
            (_, Some(reward_span)) => (reward_span, kl.span),
            (Some(loss_span), None) => (loss_span, None),
            (None, None) => (self.anchor, None),
        };
        let mut diagnostic = Diagnostic::new(
            Code::E0313,
            primary,
            format!(
                "the KL penalty of `{preset}` is both in the loss (`kl`, {}) and in the reward (`kl_reward`, {})",
                describe(kl),
                describe(kl_reward)
            ),
        )
        .with_label("a second KL penalty")
        .with_help(
            "keep one: `kl = none` to penalise in the reward only, or `kl_reward = none` to keep the KL term in the loss",
        );
        if let Some(span) = secondary {
            diagnostic = diagnostic.with_secondary(span, "the KL term in the loss");
        }
        self.diagnostics.push(diagnostic);
    }

    fn finish_stage(
        &mut self,
        name: &Ident,
        data: String,
        lr: Option<Schedule>,
        eval: Option<EvalPlan>,
        mut kind: StageKind,
        origins: BTreeMap<String, Origin>,
    ) -> StagePlan {
        let mut roots: Vec<NodeId> = Vec::new();
        visit_nodes(&mut kind, &mut |id| roots.push(*id));
        let (graph, map) = self.graph.compact(&roots);
        visit_nodes(&mut kind, &mut |id| *id = map[id]);
        self.row = None;
        StagePlan {
            name: name.name.clone(),
            data,
            lr,
            eval,
            graph,
            kind,
            origins,
        }
    }
}

/// Every node id a stage refers to in its graph.
fn visit_nodes(kind: &mut StageKind, f: &mut impl FnMut(&mut NodeId)) {
    let prompt = |prompt: &mut PromptPlan, f: &mut dyn FnMut(&mut NodeId)| {
        for message in &mut prompt.messages {
            message.parts.iter_mut().for_each(&mut *f);
        }
    };
    match kind {
        StageKind::Sft(sft) => {
            f(&mut sft.target);
            if let Some(p) = &mut sft.prompt {
                prompt(p, f);
            }
        }
        StageKind::Rl(rl) => {
            prompt(&mut rl.prompt, f);
            f(&mut rl.reward);
            for term in &mut rl.terms {
                f(&mut term.node);
            }
            if let Some(filter) = &mut rl.filter {
                f(filter);
            }
            if let Some(advantage) = &mut rl.algorithm.advantage {
                f(advantage);
            }
            let kls = [&mut rl.algorithm.kl, &mut rl.algorithm.kl_reward];
            for weight in kls
                .into_iter()
                .flatten()
                .filter_map(|kl| kl.weight.as_mut())
            {
                f(weight);
            }
        }
    }
}

/// The key in the data file of a schema field: `@field("image_path")`.
fn field_key(field: &FieldDecl) -> Option<String> {
    let attribute = field.attributes.iter().find(|a| a.name.name == "field")?;
    match &attribute.args.first()?.value.kind {
        ExprKind::Str(key) => Some(key.clone()),
        _ => None,
    }
}
