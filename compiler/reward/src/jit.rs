//! Compiled evaluation: one native function per pass, generated with cranelift. The numeric glue
//! (arithmetic, comparisons, `if`/`match`, `&&`/`||`, min/max/abs/sqrt/floor/ceil) is machine code
//! on registers; everything else — completion and row fields, natives, judges, group statistics,
//! lists — is a call to [`rlx_host`], which evaluates the node with the same code the interpreter
//! uses and remembers its value for the completion.
//!
//! Values travel as machine scalars (`f64`, `i64`, `i8` for bools); a value held by the host (text,
//! optionals, lists, boxes) travels as the index of the node whose memo slot holds it, so an `if`
//! choosing between two texts chooses an index.

use std::collections::HashMap;
use std::ffi::c_void;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    AbiParam, FuncRef, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Type, UserFuncName,
    types,
};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};
use rlx_compiler::plan::{BinaryOperator, NodeId, Op, UnaryOperator};

use crate::program::{CompileError, Env, Program, eval_node};
use crate::value::{Kind, Value};

type PassFn = unsafe extern "C" fn(ctx: *mut c_void, out: *mut f64);

pub struct JitCode {
    module: Option<JITModule>,
    passes: Vec<PassFn>,
}

// SAFETY: after `finalize_definitions` the module is only kept to free its memory on drop; the
// functions are pure machine code whose only state is the context pointer each call passes.
unsafe impl Send for JitCode {}
unsafe impl Sync for JitCode {}

impl Drop for JitCode {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: the engine owning this code is being dropped, so no function is running.
            unsafe { module.free_memory() };
        }
    }
}

/// What a compiled pass sees through its context pointer.
struct HostCtx<'e, 'a> {
    env: &'e Env<'e, 'a>,
    memo: &'e mut [Option<Value<'a>>],
    /// The arguments of the host call in progress (kept to reuse its allocation).
    args: &'e mut Vec<Value<'a>>,
    /// The first error of the completion; later host calls do nothing.
    error: Option<String>,
}

fn jit_error(message: impl std::fmt::Display) -> CompileError {
    CompileError {
        node: None,
        message: format!("cannot compile the reward: {message}"),
    }
}

/// Host functions the generated code calls, by symbol.
const MATH: &[(&str, extern "C" fn(f64) -> f64)] = &[
    ("rlx_exp", rlx_exp),
    ("rlx_log", rlx_log),
    ("rlx_cos", rlx_cos),
    ("rlx_sin", rlx_sin),
];

impl JitCode {
    pub fn compile(program: &Program) -> Result<JitCode, CompileError> {
        let mut flags = settings::builder();
        for (name, value) in [
            ("opt_level", "speed"),
            ("use_colocated_libcalls", "false"),
            ("is_pic", "false"),
        ] {
            flags.set(name, value).map_err(jit_error)?;
        }
        let isa = cranelift_native::builder()
            .map_err(jit_error)?
            .finish(settings::Flags::new(flags))
            .map_err(jit_error)?;
        let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
        builder.symbol("rlx_host", rlx_host as *const u8);
        builder.symbol("rlx_pow", rlx_pow as *const u8);
        builder.symbol("rlx_rem", rlx_rem as *const u8);
        builder.symbol("rlx_clip", rlx_clip as *const u8);
        builder.symbol("rlx_hold", rlx_hold as *const u8);
        builder.symbol("rlx_read", rlx_read as *const u8);
        for (name, f) in MATH {
            builder.symbol(*name, *f as *const u8);
        }
        let mut module = JITModule::new(builder);
        let mut ids = Vec::new();
        let mut context = module.make_context();
        let mut function_context = FunctionBuilderContext::new();
        for pass in 0..program.passes() {
            let pointer = module.target_config().pointer_type();
            let mut signature = module.make_signature();
            signature.params.push(AbiParam::new(pointer));
            signature.params.push(AbiParam::new(pointer));
            let id = module
                .declare_function(&format!("pass{pass}"), Linkage::Local, &signature)
                .map_err(jit_error)?;
            context.func.signature = signature;
            context.func.name = UserFuncName::user(0, id.as_u32());
            let imports = Imports::declare(&mut module, &mut context.func)?;
            let emitter = Emitter {
                program,
                builder: FunctionBuilder::new(&mut context.func, &mut function_context),
                imports,
                scopes: vec![HashMap::new()],
                ctx: None,
                frontend: module.target_config(),
            };
            emitter.pass(&program.pass_roots(pass));
            module
                .define_function(id, &mut context)
                .map_err(jit_error)?;
            module.clear_context(&mut context);
            ids.push(id);
        }
        module.finalize_definitions().map_err(jit_error)?;
        let passes = ids
            .into_iter()
            .map(|id| {
                let code = module.get_finalized_function(id);
                // SAFETY: each function was generated with the `PassFn` signature above.
                unsafe { std::mem::transmute::<*const u8, PassFn>(code) }
            })
            .collect();
        Ok(JitCode {
            module: Some(module),
            passes,
        })
    }

    /// Runs pass `pass` for one completion; `scratch` is reused across calls.
    pub fn run<'a>(
        &self,
        pass: usize,
        env: &Env<'_, 'a>,
        memo: &mut [Option<Value<'a>>],
        out: &mut [f64],
        scratch: &mut Vec<Value<'a>>,
    ) -> Result<(), String> {
        let mut ctx = HostCtx {
            env,
            memo,
            args: scratch,
            error: None,
        };
        // SAFETY: the function writes one f64 per root of the pass into `out`, which has that
        // length, and hands `ctx` back only to `rlx_host` during the call.
        unsafe { (self.passes[pass])((&raw mut ctx).cast(), out.as_mut_ptr()) };
        match ctx.error {
            Some(message) => Err(message),
            None => Ok(()),
        }
    }
}

struct Imports {
    host: FuncRef,
    pow: FuncRef,
    rem: FuncRef,
    clip: FuncRef,
    hold: FuncRef,
    read: FuncRef,
    math: HashMap<&'static str, FuncRef>,
}

impl Imports {
    fn declare(
        module: &mut JITModule,
        func: &mut cranelift_codegen::ir::Function,
    ) -> Result<Imports, CompileError> {
        let pointer = module.target_config().pointer_type();
        let mut import =
            |name: &str, params: &[Type], returns: &[Type]| -> Result<FuncRef, CompileError> {
                let mut signature = module.make_signature();
                signature
                    .params
                    .extend(params.iter().map(|t| AbiParam::new(*t)));
                signature
                    .returns
                    .extend(returns.iter().map(|t| AbiParam::new(*t)));
                let id = module
                    .declare_function(name, Linkage::Import, &signature)
                    .map_err(jit_error)?;
                Ok(module.declare_func_in_func(id, func))
            };
        let host = import("rlx_host", &[pointer, types::I32, pointer], &[types::I64])?;
        let pow = import("rlx_pow", &[types::F64, types::F64], &[types::F64])?;
        let rem = import("rlx_rem", &[types::F64, types::F64], &[types::F64])?;
        let clip = import(
            "rlx_clip",
            &[types::F64, types::F64, types::F64],
            &[types::F64],
        )?;
        let hold = import(
            "rlx_hold",
            &[pointer, types::I32, types::I32, types::I64],
            &[types::I64],
        )?;
        let read = import(
            "rlx_read",
            &[pointer, types::I64, types::I32],
            &[types::I64],
        )?;
        let mut math = HashMap::new();
        for (name, _) in MATH {
            let short = name.trim_start_matches("rlx_");
            math.insert(short, import(name, &[types::F64], &[types::F64])?);
        }
        Ok(Imports {
            host,
            pow,
            rem,
            clip,
            hold,
            read,
            math,
        })
    }
}

fn machine_type(kind: Kind) -> Type {
    match kind {
        Kind::Float => types::F64,
        Kind::Bool => types::I8,
        Kind::Int | Kind::Host => types::I64,
    }
}

struct Emitter<'p, 'f> {
    program: &'p Program,
    builder: FunctionBuilder<'f>,
    imports: Imports,
    /// Values emitted so far, innermost branch last: a value computed inside a branch is not
    /// available after it.
    scopes: Vec<HashMap<NodeId, cranelift_codegen::ir::Value>>,
    ctx: Option<cranelift_codegen::ir::Value>,
    frontend: TargetFrontendConfig,
}

type Ssa = cranelift_codegen::ir::Value;

impl Emitter<'_, '_> {
    fn pass(mut self, roots: &[NodeId]) {
        let entry = self.builder.create_block();
        self.builder.append_block_params_for_function_params(entry);
        self.builder.switch_to_block(entry);
        let params = self.builder.block_params(entry).to_vec();
        self.ctx = Some(params[0]);
        for (i, &root) in roots.iter().enumerate() {
            let value = self.emit(root);
            let value = self.convert(value, self.kind(root), Kind::Float);
            self.builder
                .ins()
                .store(MemFlagsData::trusted(), value, params[1], (i * 8) as i32);
        }
        self.builder.ins().return_(&[]);
        self.builder.seal_all_blocks();
        self.builder.finalize(self.frontend);
    }

    fn kind(&self, id: NodeId) -> Kind {
        self.program.kinds[id as usize]
    }

    fn emit(&mut self, id: NodeId) -> Ssa {
        if let Some(value) = self.scopes.iter().rev().find_map(|s| s.get(&id)) {
            return *value;
        }
        let value = self.compute(id);
        self.scopes.last_mut().expect("a scope").insert(id, value);
        value
    }

    fn compute(&mut self, id: NodeId) -> Ssa {
        let node = &self.program.graph.nodes[id as usize];
        let kind = self.kind(id);
        let inputs = node.inputs.clone();
        let input_kinds: Vec<Kind> = inputs.iter().map(|&i| self.kind(i)).collect();
        let scalar = |k: &Kind| *k != Kind::Host;
        let numeric = |k: &Kind| matches!(k, Kind::Float | Kind::Int);
        match &node.op {
            Op::Const { .. } if kind != Kind::Host => {
                let value = self.program.constants[id as usize]
                    .as_ref()
                    .expect("a constant");
                let bits = value.to_bits(kind);
                match kind {
                    Kind::Float => self.builder.ins().f64const(f64::from_bits(bits)),
                    _ => self.builder.ins().iconst(machine_type(kind), bits as i64),
                }
            }
            Op::Const { .. } => self.builder.ins().iconst(types::I64, i64::from(id)),
            Op::Select => {
                let condition = self.emit(inputs[0]);
                let (a, b) = (inputs[1], inputs[2]);
                self.branch(
                    condition,
                    kind,
                    |this| this.arm(id, a),
                    |this| this.arm(id, b),
                )
            }
            Op::Binary {
                operator: operator @ (BinaryOperator::And | BinaryOperator::Or),
            } if input_kinds.iter().all(|k| *k == Kind::Bool) => {
                let left = self.emit(inputs[0]);
                let right = inputs[1];
                if *operator == BinaryOperator::And {
                    self.branch(
                        left,
                        Kind::Bool,
                        |this| this.emit(right),
                        |this| this.builder.ins().iconst(types::I8, 0),
                    )
                } else {
                    self.branch(
                        left,
                        Kind::Bool,
                        |this| this.builder.ins().iconst(types::I8, 1),
                        |this| this.emit(right),
                    )
                }
            }
            Op::Unary { operator } if scalar(&input_kinds[0]) && input_kinds[0] == kind => {
                let value = self.emit(inputs[0]);
                match (operator, kind) {
                    (UnaryOperator::Neg, Kind::Float) => self.builder.ins().fneg(value),
                    (UnaryOperator::Neg, Kind::Int) => self.builder.ins().ineg(value),
                    (UnaryOperator::Not, Kind::Bool) => {
                        self.builder.ins().icmp_imm_s(IntCC::Equal, value, 0)
                    }
                    _ => self.host_call(id),
                }
            }
            Op::Binary { operator } if input_kinds.iter().all(scalar) => {
                self.binary(id, *operator, &inputs, &input_kinds)
            }
            Op::Call { function } if input_kinds.iter().all(numeric) && kind == Kind::Float => {
                self.math(id, function, &inputs)
            }
            _ => self.host_call(id),
        }
    }

    /// The value of an arm of `select`, as the select's kind: a scalar where the select's value is
    /// held by the host (`if ok { 1.0 } else { none }`) is handed to the host in the select's slot.
    fn arm(&mut self, select: NodeId, arm: NodeId) -> Ssa {
        let (from, to) = (self.kind(arm), self.kind(select));
        if to != Kind::Host && from == Kind::Host {
            // A value the host holds where a scalar is wanted (a row field of unknown type).
            let slot = self.emit(arm);
            let ctx = self.ctx.expect("the context parameter");
            let kind = self.builder.ins().iconst(types::I32, i64::from(to.code()));
            let bits = self.call(self.imports.read, &[ctx, slot, kind]);
            return self.unword(bits, to);
        }
        if to != Kind::Host || from == Kind::Host {
            return self.emit_as(arm, to);
        }
        let value = self.emit(arm);
        let word = self.word(value, from);
        let ctx = self.ctx.expect("the context parameter");
        let node = self.builder.ins().iconst(types::I32, i64::from(select));
        let kind = self
            .builder
            .ins()
            .iconst(types::I32, i64::from(from.code()));
        self.call(self.imports.hold, &[ctx, node, kind, word])
    }

    /// A scalar as the 64-bit word host calls take and return.
    /// A host call's 64-bit word as a value of `kind` (the inverse of [`Self::word`]).
    fn unword(&mut self, word: Ssa, kind: Kind) -> Ssa {
        match kind {
            Kind::Float => self
                .builder
                .ins()
                .bitcast(types::F64, MemFlagsData::new(), word),
            Kind::Bool => self.builder.ins().ireduce(types::I8, word),
            Kind::Int | Kind::Host => word,
        }
    }

    fn word(&mut self, value: Ssa, kind: Kind) -> Ssa {
        match kind {
            Kind::Float => self
                .builder
                .ins()
                .bitcast(types::I64, MemFlagsData::new(), value),
            Kind::Bool => self.builder.ins().uextend(types::I64, value),
            Kind::Int | Kind::Host => value,
        }
    }

    /// Emits `id` converted to `kind`.
    fn emit_as(&mut self, id: NodeId, kind: Kind) -> Ssa {
        let value = self.emit(id);
        self.convert(value, self.kind(id), kind)
    }

    /// `if condition { then } else { otherwise }`, each arm in its own scope.
    fn branch(
        &mut self,
        condition: Ssa,
        kind: Kind,
        then: impl FnOnce(&mut Self) -> Ssa,
        otherwise: impl FnOnce(&mut Self) -> Ssa,
    ) -> Ssa {
        let (then_block, else_block, merge) = (
            self.builder.create_block(),
            self.builder.create_block(),
            self.builder.create_block(),
        );
        let result = self.builder.append_block_param(merge, machine_type(kind));
        self.builder
            .ins()
            .brif(condition, then_block, &[], else_block, &[]);
        self.builder.switch_to_block(then_block);
        self.scopes.push(HashMap::new());
        let value = then(self);
        self.scopes.pop();
        self.builder.ins().jump(merge, &[value.into()]);
        self.builder.switch_to_block(else_block);
        self.scopes.push(HashMap::new());
        let value = otherwise(self);
        self.scopes.pop();
        self.builder.ins().jump(merge, &[value.into()]);
        self.builder.switch_to_block(merge);
        result
    }

    fn convert(&mut self, value: Ssa, from: Kind, to: Kind) -> Ssa {
        let ins = self.builder.ins();
        match (from, to) {
            (a, b) if a == b => value,
            (Kind::Int, Kind::Float) => ins.fcvt_from_sint(types::F64, value),
            (Kind::Bool, Kind::Float) => {
                let wide = ins.uextend(types::I64, value);
                self.builder.ins().fcvt_from_uint(types::F64, wide)
            }
            (Kind::Bool, Kind::Int) => ins.uextend(types::I64, value),
            (Kind::Float, Kind::Int) => ins.fcvt_to_sint_sat(types::I64, value),
            (_, Kind::Bool) => ins.icmp_imm_s(IntCC::NotEqual, value, 0),
            _ => value,
        }
    }

    fn binary(
        &mut self,
        id: NodeId,
        operator: BinaryOperator,
        inputs: &[NodeId],
        kinds: &[Kind],
    ) -> Ssa {
        use BinaryOperator::*;
        let (a_kind, b_kind) = (kinds[0], kinds[1]);
        let both_int = a_kind == Kind::Int && b_kind == Kind::Int;
        let both_numeric =
            matches!(a_kind, Kind::Int | Kind::Float) && matches!(b_kind, Kind::Int | Kind::Float);
        let both_bool = a_kind == Kind::Bool && b_kind == Kind::Bool;
        let compare = matches!(operator, Eq | Ne | Lt | Le | Gt | Ge);
        if both_bool && matches!(operator, Eq | Ne) {
            let (a, b) = (self.emit(inputs[0]), self.emit(inputs[1]));
            let cc = if operator == Eq {
                IntCC::Equal
            } else {
                IntCC::NotEqual
            };
            return self.builder.ins().icmp(cc, a, b);
        }
        if !both_numeric || (both_int && matches!(operator, Rem | Pow)) {
            return self.host_call(id);
        }
        if both_int && operator != Div {
            let (a, b) = (self.emit(inputs[0]), self.emit(inputs[1]));
            let ins = self.builder.ins();
            return match operator {
                Add => ins.iadd(a, b),
                Sub => ins.isub(a, b),
                Mul => ins.imul(a, b),
                _ => ins.icmp(int_cc(operator), a, b),
            };
        }
        let a = self.emit_as(inputs[0], Kind::Float);
        let b = self.emit_as(inputs[1], Kind::Float);
        if compare {
            return self.builder.ins().fcmp(float_cc(operator), a, b);
        }
        match operator {
            Add => self.builder.ins().fadd(a, b),
            Sub => self.builder.ins().fsub(a, b),
            Mul => self.builder.ins().fmul(a, b),
            Div => self.builder.ins().fdiv(a, b),
            Rem => self.call(self.imports.rem, &[a, b]),
            Pow => self.call(self.imports.pow, &[a, b]),
            _ => self.host_call(id),
        }
    }

    fn math(&mut self, id: NodeId, function: &str, inputs: &[NodeId]) -> Ssa {
        let args: Vec<Ssa> = inputs
            .iter()
            .map(|&i| self.emit_as(i, Kind::Float))
            .collect();
        let ins = self.builder.ins();
        match (function, args.as_slice()) {
            ("abs", [x]) => ins.fabs(*x),
            ("sqrt", [x]) => ins.sqrt(*x),
            ("floor", [x]) => ins.floor(*x),
            ("ceil", [x]) => ins.ceil(*x),
            // `a <= b ? a : b`, as the prelude defines min (NaN picks the second).
            ("min", [a, b]) => {
                let pick = ins.fcmp(FloatCC::LessThanOrEqual, *a, *b);
                self.builder.ins().select(pick, *a, *b)
            }
            ("max", [a, b]) => {
                let pick = ins.fcmp(FloatCC::GreaterThanOrEqual, *a, *b);
                self.builder.ins().select(pick, *a, *b)
            }
            ("clip", [x, low, high]) => self.call(self.imports.clip, &[*x, *low, *high]),
            (name, [x]) if self.imports.math.contains_key(name) => {
                let f = self.imports.math[name];
                self.call(f, &[*x])
            }
            _ => self.host_call(id),
        }
    }

    fn call(&mut self, f: FuncRef, args: &[Ssa]) -> Ssa {
        let call = self.builder.ins().call(f, args);
        self.builder.inst_results(call)[0]
    }

    /// `rlx_host(ctx, id, args)`: the node evaluated by the host from its inputs' values.
    fn host_call(&mut self, id: NodeId) -> Ssa {
        let inputs = self.program.graph.nodes[id as usize].inputs.clone();
        let words: Vec<Ssa> = inputs
            .iter()
            .map(|&input| {
                if self.program.is_completion_text[input as usize] {
                    // The host reads the completion's text itself: no call, no memo.
                    return self.builder.ins().iconst(types::I64, i64::from(input));
                }
                let value = self.emit(input);
                self.word(value, self.kind(input))
            })
            .collect();
        let slot = self.builder.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (words.len().max(1) * 8) as u32,
            3,
        ));
        for (i, word) in words.iter().enumerate() {
            self.builder
                .ins()
                .stack_store(types::I64, *word, slot, (i * 8) as i32);
        }
        let args = self.builder.ins().stack_addr(types::I64, slot, 0);
        let node = self.builder.ins().iconst(types::I32, i64::from(id));
        let ctx = self.ctx.expect("the context parameter");
        let result = self.call(self.imports.host, &[ctx, node, args]);
        self.unword(result, self.kind(id))
    }
}

fn int_cc(operator: BinaryOperator) -> IntCC {
    match operator {
        BinaryOperator::Eq => IntCC::Equal,
        BinaryOperator::Ne => IntCC::NotEqual,
        BinaryOperator::Lt => IntCC::SignedLessThan,
        BinaryOperator::Le => IntCC::SignedLessThanOrEqual,
        BinaryOperator::Gt => IntCC::SignedGreaterThan,
        _ => IntCC::SignedGreaterThanOrEqual,
    }
}

/// Ordered comparisons (false with NaN), and `!=` true with NaN, as Rust's operators.
fn float_cc(operator: BinaryOperator) -> FloatCC {
    match operator {
        BinaryOperator::Eq => FloatCC::Equal,
        BinaryOperator::Ne => FloatCC::NotEqual,
        BinaryOperator::Lt => FloatCC::LessThan,
        BinaryOperator::Le => FloatCC::LessThanOrEqual,
        BinaryOperator::Gt => FloatCC::GreaterThan,
        _ => FloatCC::GreaterThanOrEqual,
    }
}

impl<'a> HostCtx<'_, 'a> {
    /// The value the host holds in `slot`: a constant of the program, or a value of the
    /// completion computed so far.
    fn held(&self, slot: u64) -> Option<&Value<'a>> {
        let slot = slot as usize;
        self.env
            .program
            .constants
            .get(slot)
            .and_then(Option::as_ref)
            .or_else(|| self.memo.get(slot).and_then(Option::as_ref))
    }
}

/// Evaluates node `node` for the completion behind `ctx`, from the words of its inputs (scalar
/// bits, or the slot index of a host value); returns its scalar bits, or its slot index.
extern "C" fn rlx_host(ctx: *mut c_void, node: u32, args: *const u64) -> u64 {
    // SAFETY: `ctx` is the `HostCtx` that `JitCode::run` passed to the function calling us, alive
    // for the call; its lifetimes are erased here, and no value leaves the context.
    let ctx = unsafe { &mut *ctx.cast::<HostCtx<'static, 'static>>() };
    let program = ctx.env.program;
    let id = node as usize;
    let kind = program.kinds[id];
    let word = |value: &Value| {
        if kind == Kind::Host {
            u64::from(node)
        } else {
            value.to_bits(kind)
        }
    };
    if ctx.error.is_some() {
        return if kind == Kind::Host {
            u64::from(node)
        } else {
            0
        };
    }
    if let Some(value) = &ctx.memo[id] {
        return word(value);
    }
    let inputs = &program.graph.nodes[id].inputs;
    let mut values = std::mem::take(ctx.args);
    values.clear();
    for (i, &input) in inputs.iter().enumerate() {
        // SAFETY: the generated code stores one word per input before the call.
        let bits = unsafe { *args.add(i) };
        let value = match program.kinds[input as usize] {
            Kind::Host if program.is_completion_text[input as usize] => {
                Value::Text(std::borrow::Cow::Borrowed(ctx.env.item.text))
            }
            Kind::Host => match ctx.held(bits) {
                Some(value) => value.clone(),
                None => {
                    ctx.error = Some(format!("node {input} was read before it was computed"));
                    return 0;
                }
            },
            scalar => Value::from_bits(scalar, bits),
        };
        values.push(value);
    }
    // A panic must not unwind through generated code (it would abort the process): a native that
    // panics is reported as this completion's error instead.
    let env = ctx.env;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eval_node(env, node, &values)
    }))
    .unwrap_or_else(|_| {
        Err(format!(
            "node {node} panicked: this is a bug in rlx, please report it"
        ))
    });
    values.clear();
    *ctx.args = values;
    match result {
        Ok(value) => {
            let bits = word(&value);
            ctx.memo[id] = Some(value);
            bits
        }
        Err(message) => {
            ctx.error = Some(message);
            if kind == Kind::Host {
                u64::from(node)
            } else {
                0
            }
        }
    }
}

/// Holds a scalar in `node`'s memo slot (a `select` whose value the host holds, given a scalar
/// arm); returns the slot.
extern "C" fn rlx_hold(ctx: *mut c_void, node: u32, kind: u32, bits: u64) -> u64 {
    // SAFETY: as in `rlx_host`.
    let ctx = unsafe { &mut *ctx.cast::<HostCtx<'static, 'static>>() };
    let kind = Kind::from_code(kind);
    ctx.memo[node as usize] = Some(Value::from_bits(kind, bits));
    u64::from(node)
}

/// The scalar bits of the value the host holds in `slot`, as `kind` (a number where a float is
/// wanted); an error for a value that is not one.
extern "C" fn rlx_read(ctx: *mut c_void, slot: u64, kind: u32) -> u64 {
    // SAFETY: as in `rlx_host`.
    let ctx = unsafe { &mut *ctx.cast::<HostCtx<'static, 'static>>() };
    let kind = Kind::from_code(kind);
    match ctx.held(slot) {
        Some(value @ (Value::Float(_) | Value::Int(_) | Value::Bool(_))) => value.to_bits(kind),
        Some(other) => {
            if ctx.error.is_none() {
                ctx.error = Some(format!("{other} where a number was expected"));
            }
            0
        }
        None => 0,
    }
}

extern "C" fn rlx_pow(x: f64, y: f64) -> f64 {
    x.powf(y)
}

extern "C" fn rlx_rem(x: f64, y: f64) -> f64 {
    x.rem_euclid(y)
}

extern "C" fn rlx_clip(x: f64, low: f64, high: f64) -> f64 {
    crate::natives::clip(x, low, high)
}

extern "C" fn rlx_exp(x: f64) -> f64 {
    x.exp()
}

extern "C" fn rlx_log(x: f64) -> f64 {
    x.ln()
}

extern "C" fn rlx_cos(x: f64) -> f64 {
    x.cos()
}

extern "C" fn rlx_sin(x: f64) -> f64 {
    x.sin()
}
