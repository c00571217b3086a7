//! Model judges: `judge_http(url, model = ...)` asks an OpenAI-compatible `/v1/chat/completions`
//! endpoint, and the runtime adds in-process reward models behind the same `JudgeBackend`.
//!
//! A judge renders its arguments into a prompt (a template with `{name}` holes), and keeps what
//! it learnt: a cache per prompt (the prompt holds the response), so a completion repeated within
//! or across steps is asked once. Before a batch is scored, the prompts the batch will ask are
//! sent together, `concurrency` at a time (`prefetch`); scoring then reads the answers. A request
//! that fails (connection refused, no answer within `timeout_s`, HTTP 429 or 5xx) is retried
//! `retries` times with exponential backoff; when every attempt fails, or the answer holds no
//! score, the judge's declared `fallback` is used and counted (`judge/<name>/fallbacks`), never
//! a silent zero.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rlx_compiler::plan::{ModelPlan, Value as PlanValue};
use serde_json::json;

use crate::http::{self, Url};
use crate::program::Judge;
use crate::value::Value;

/// What a judge did, for metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JudgeStats {
    /// Scores asked for (cache hits included).
    pub asked: u64,
    /// Requests sent (retries included).
    pub requests: u64,
    pub cache_hits: u64,
    pub retries: u64,
    /// Scores that fell back to the declared value.
    pub fallbacks: u64,
    /// Seconds spent waiting for answers.
    pub seconds: f64,
    /// The last failure, for the run's log.
    pub last_error: Option<String>,
}

impl JudgeStats {
    /// What happened since `earlier`.
    pub fn since(&self, earlier: &JudgeStats) -> JudgeStats {
        JudgeStats {
            asked: self.asked - earlier.asked,
            requests: self.requests - earlier.requests,
            cache_hits: self.cache_hits - earlier.cache_hits,
            retries: self.retries - earlier.retries,
            fallbacks: self.fallbacks - earlier.fallbacks,
            seconds: self.seconds - earlier.seconds,
            last_error: self.last_error.clone(),
        }
    }
}

/// A judge the runtime can ask: by HTTP, or a model in process.
pub trait JudgeBackend: Send + Sync {
    /// The prompt of one call's named arguments.
    fn prompt(&self, args: &[(&str, &Value<'_>)]) -> String;
    /// Scores prompts ahead of scoring, as one batch.
    fn prefetch(&self, prompts: &[String]);
    /// The score of a prompt: cached, fetched, or the fallback; an error only where no fallback
    /// applies (a prompt an in-process model cannot read).
    fn score_prompt(&self, prompt: &str) -> Result<f64, String>;
    /// The score of a prompt when it is already known (asked in this batch, or cached).
    fn cached_score(&self, prompt: &str) -> Option<f64>;
    /// Forgets the answers of the last batch that were fallbacks, so the next batch asks again.
    fn end_batch(&self);
    fn stats(&self) -> JudgeStats;
}

/// The judges of a plan by model name; what the reward engine asks.
#[derive(Default)]
pub struct Judges {
    pub backends: BTreeMap<String, Box<dyn JudgeBackend>>,
    /// `policy_chat(...)` models, answered by the trainer.
    pub chats: BTreeMap<String, PolicyChat>,
}

impl Judges {
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty() && self.chats.is_empty()
    }

    /// The calls of each chat model that a recorded pass made and that have no reply yet, in
    /// the order of the completions (whatever order the threads recorded them in, so that the
    /// replies sampled from a seed do not depend on it).
    pub fn pending_replies(&self, recorded: &Recorder) -> BTreeMap<String, Vec<ReplyCall>> {
        let asked = std::mem::take(&mut *recorded.replies.lock().expect("recorder"));
        let mut pending: BTreeMap<String, Vec<ReplyCall>> = BTreeMap::new();
        for (model, call) in asked {
            if self
                .chats
                .get(&model)
                .is_some_and(|c| c.answered(&call).is_none())
            {
                pending.entry(model).or_default().push(call);
            }
        }
        for calls in pending.values_mut() {
            calls.sort();
            calls.dedup();
        }
        pending
    }

    /// Sends every recorded request to its judge, each judge's batch at once.
    pub fn prefetch(&self, recorded: &Recorder) {
        let calls = std::mem::take(&mut *recorded.calls.lock().expect("recorder"));
        let mut by_judge: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (model, prompt) in calls {
            by_judge.entry(model).or_default().push(prompt);
        }
        for (model, prompts) in by_judge {
            if let Some(backend) = self.backends.get(&model) {
                backend.prefetch(&prompts);
            }
        }
    }

    pub fn end_batch(&self) {
        self.backends.values().for_each(|b| b.end_batch());
        self.chats.values().for_each(PolicyChat::end_batch);
    }

    pub fn stats(&self) -> BTreeMap<String, JudgeStats> {
        let judges = self
            .backends
            .iter()
            .map(|(name, b)| (name.clone(), b.stats()));
        let chats = self.chats.iter().map(|(name, c)| (name.clone(), c.stats()));
        judges.chain(chats).collect()
    }
}

impl Judge for Judges {
    fn score(&self, model: &str, args: &[(&str, &Value<'_>)]) -> Result<f64, String> {
        let backend = self
            .backends
            .get(model)
            .ok_or_else(|| format!("no judge `{model}` is available"))?;
        backend.score_prompt(&backend.prompt(args))
    }

    fn reply(
        &self,
        model: &str,
        args: &[(&str, &Value<'_>)],
        completion: usize,
    ) -> Result<String, String> {
        let chat = self
            .chats
            .get(model)
            .ok_or_else(|| format!("no chat model `{model}` is available"))?;
        let call = (completion, chat.prompt(args));
        chat.reply(&call).ok_or_else(|| {
            format!(
                "the chat model `{model}` was asked a prompt that was not answered before scoring"
            )
        })
    }
}

/// A first pass over a batch that records what each judge will be asked (answering 0), so the
/// requests can go out together before the real pass.
///
/// Chat models' replies are texts that later nodes read (another judge's prompt may hold one), so
/// a recorded reply is the answer when there is one already, else a stand-in and recorded too:
/// the trainer answers what a pass recorded and records again until nothing is missing. A prompt
/// that holds the stand-in waits for the next pass instead of being asked in vain.
pub struct Recorder<'j> {
    judges: &'j Judges,
    calls: Mutex<Vec<(String, String)>>,
    replies: Mutex<Vec<(String, ReplyCall)>>,
}

impl<'j> Recorder<'j> {
    pub fn new(judges: &'j Judges) -> Recorder<'j> {
        Recorder {
            judges,
            calls: Mutex::new(Vec::new()),
            replies: Mutex::new(Vec::new()),
        }
    }
}

/// What a recording pass reads for a reply it does not know yet.
const PENDING_REPLY: &str = "\u{0}a reply not yet answered\u{0}";

impl Judge for Recorder<'_> {
    fn score(&self, model: &str, args: &[(&str, &Value<'_>)]) -> Result<f64, String> {
        let Some(backend) = self.judges.backends.get(model) else {
            return Ok(0.0);
        };
        let prompt = backend.prompt(args);
        if prompt.contains(PENDING_REPLY) {
            return Ok(0.0);
        }
        // A score asked in an earlier round is known, so a reply that reads it gets its prompt.
        let known = backend.cached_score(&prompt);
        self.calls
            .lock()
            .expect("recorder")
            .push((model.to_string(), prompt));
        Ok(known.unwrap_or(0.0))
    }

    fn reply(
        &self,
        model: &str,
        args: &[(&str, &Value<'_>)],
        completion: usize,
    ) -> Result<String, String> {
        let Some(chat) = self.judges.chats.get(model) else {
            return Ok(String::new());
        };
        let call = (completion, chat.prompt(args));
        if let Some(reply) = chat.answered(&call) {
            return Ok(reply);
        }
        if !call.1.contains(PENDING_REPLY) {
            self.replies
                .lock()
                .expect("recorder")
                .push((model.to_string(), call));
        }
        Ok(PENDING_REPLY.to_string())
    }
}

/// A model's constructor arguments, read with errors that name the model and the argument.
struct ModelArgs<'m> {
    model: &'m ModelPlan,
    /// What the model is, for errors ("judge", "chat model").
    kind: &'static str,
}

impl<'m> ModelArgs<'m> {
    fn new(model: &'m ModelPlan, kind: &'static str) -> ModelArgs<'m> {
        ModelArgs { model, kind }
    }

    fn fail(&self, key: &str, what: &str) -> String {
        format!(
            "{} `{}`: `{key}` must be {what}",
            self.kind, self.model.name
        )
    }

    /// A text; empty when not given.
    fn text(&self, key: &str) -> Result<String, String> {
        match self.model.args.get(key) {
            Some(PlanValue::Text(t)) => Ok(t.clone()),
            None => Ok(String::new()),
            _ => Err(self.fail(key, "a text")),
        }
    }

    /// A number; `None` when not given or `none`.
    fn number(&self, key: &str) -> Result<Option<f64>, String> {
        match self.model.args.get(key) {
            None | Some(PlanValue::None) => Ok(None),
            Some(PlanValue::Int(v)) => Ok(Some(*v as f64)),
            Some(PlanValue::Float(v)) => Ok(Some(*v)),
            _ => Err(self.fail(key, "a number")),
        }
    }
}

/// The settings of `policy_chat(...)`; the sampling ones are `None` where the stage's rollout
/// settings apply.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatSettings {
    pub name: String,
    pub system: String,
    pub template: String,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub max_tokens: Option<u64>,
}

impl ChatSettings {
    pub fn from_plan(model: &ModelPlan) -> Result<ChatSettings, String> {
        let args = ModelArgs::new(model, "chat model");
        let fail = |key: &str, what: &str| args.fail(key, what);
        let text = |key: &str| args.text(key);
        let number = |key: &str| args.number(key);
        let count = |key: &str| match number(key)? {
            Some(v) if v < 0.0 || v.fract() != 0.0 => Err(fail(key, "a whole number, 0 or more")),
            other => Ok(other.map(|v| v as u64)),
        };
        let temperature = number("temperature")?;
        if temperature.is_some_and(|t| !(t >= 0.0 && t.is_finite())) {
            return Err(fail("temperature", "0 or more"));
        }
        let top_p = number("top_p")?;
        if top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(fail("top_p", "in (0, 1]"));
        }
        let max_tokens = count("max_tokens")?;
        if max_tokens == Some(0) {
            return Err(fail("max_tokens", "1 or more"));
        }
        Ok(ChatSettings {
            name: model.name.clone(),
            system: text("system")?,
            template: text("template")?,
            temperature,
            top_p,
            top_k: count("top_k")?,
            max_tokens,
        })
    }
}

/// A chat model's call: the completion it was made for (its position in the batch), and the
/// prompt.
pub type ReplyCall = (usize, String);

/// `policy_chat(...)`: the trained policy as a chat model. The trainer samples a reply for each
/// call a batch makes (`Judges::pending_replies`) and hands them in (`answer`); scoring reads
/// them. Each completion's call has a reply of its own, as a reward function asking a model per
/// completion gets; they are forgotten at the batch's end, since the next step's weights differ.
pub struct PolicyChat {
    pub settings: ChatSettings,
    replies: Mutex<HashMap<ReplyCall, String>>,
    stats: Mutex<JudgeStats>,
}

impl PolicyChat {
    pub fn new(settings: ChatSettings) -> PolicyChat {
        PolicyChat {
            settings,
            replies: Mutex::new(HashMap::new()),
            stats: Mutex::new(JudgeStats::default()),
        }
    }

    /// The user's turn: the template filled as a judge's is; without one, each argument's text on
    /// a line of its own.
    pub fn prompt(&self, args: &[(&str, &Value<'_>)]) -> String {
        if self.settings.template.is_empty() {
            let texts: Vec<String> = args.iter().map(|(_, value)| prompt_text(value)).collect();
            return texts.join("\n");
        }
        render_prompt(&self.settings.template, args)
    }

    /// The chat's messages for a prompt: the system's turn when there is one, then the user's.
    pub fn messages(&self, prompt: &str) -> Vec<(String, String)> {
        let mut messages = Vec::with_capacity(2);
        if !self.settings.system.is_empty() {
            messages.push(("system".to_string(), self.settings.system.clone()));
        }
        messages.push(("user".to_string(), prompt.to_string()));
        messages
    }

    fn answered(&self, call: &ReplyCall) -> Option<String> {
        self.replies.lock().expect("replies").get(call).cloned()
    }

    /// The reply to a call, counted as asked.
    fn reply(&self, call: &ReplyCall) -> Option<String> {
        self.stats.lock().expect("stats").asked += 1;
        self.answered(call)
    }

    /// The replies the policy sampled for `calls`, and how long that took.
    pub fn answer(&self, calls: Vec<ReplyCall>, replies: Vec<String>, seconds: f64) {
        let mut stats = self.stats.lock().expect("stats");
        stats.requests += calls.len() as u64;
        stats.seconds += seconds;
        drop(stats);
        let mut known = self.replies.lock().expect("replies");
        known.extend(calls.into_iter().zip(replies));
    }

    fn end_batch(&self) {
        self.replies.lock().expect("replies").clear();
    }

    pub fn stats(&self) -> JudgeStats {
        self.stats.lock().expect("stats").clone()
    }
}

/// An argument as a prompt shows it: a text as it is, `none` as nothing.
fn prompt_text(value: &Value<'_>) -> String {
    match value {
        Value::Text(t) => t.to_string(),
        Value::None => String::new(),
        other => other.to_string(),
    }
}

/// The prompt a judge sees: the template with each `{name}` replaced by the argument's text;
/// without a template, a grading instruction and one line per argument.
pub fn render_prompt(template: &str, args: &[(&str, &Value<'_>)]) -> String {
    if template.is_empty() {
        let mut prompt = String::from(
            "Grade the response. Compare it with the reference answer when one is given.\n\n",
        );
        for (name, value) in args {
            let mut label = name.replace('_', " ");
            if let Some(first) = label.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            prompt.push_str(&format!("{label}: {}\n", prompt_text(value)));
        }
        prompt.push_str("\nReply with a single score between 0 and 1, and nothing else.");
        return prompt;
    }
    // One pass over the template: a filled-in value is not searched for holes again (a caption
    // holding `{question}` stays as written, as in a Python f-string).
    let mut prompt = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        prompt.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let filled = after.find('}').and_then(|close| {
            let name = &after[..close];
            let (_, value) = args.iter().find(|(n, _)| *n == name)?;
            Some((close, prompt_text(value)))
        });
        match filled {
            Some((close, value)) => {
                prompt.push_str(&value);
                rest = &after[close + 1..];
            }
            None => {
                prompt.push('{');
                rest = after;
            }
        }
    }
    prompt.push_str(rest);
    prompt
}

/// The score in a judge's reply: the first number, or `a/b` as a fraction (`8/10` is 0.8);
/// `None` when the reply holds no number.
pub fn parse_score(reply: &str) -> Option<f64> {
    let bytes = reply.as_bytes();
    let number_at = |start: usize| -> Option<(f64, usize)> {
        let mut end = start;
        if end < bytes.len() && bytes[end] == b'-' {
            end += 1;
        }
        let digits = end;
        while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.') {
            end += 1;
        }
        if end == digits {
            return None;
        }
        let text = reply[start..end].trim_end_matches('.');
        text.parse::<f64>().ok().map(|v| (v, start + text.len()))
    };
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            || (bytes[i] == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        if starts && let Some((value, end)) = number_at(i) {
            let rest = reply[end..].trim_start();
            if let Some(denominator) = rest.strip_prefix('/') {
                let denominator = denominator.trim_start();
                let offset = reply.len() - denominator.len();
                if let Some((d, _)) = number_at(offset)
                    && d != 0.0
                {
                    return Some(value / d);
                }
            }
            return Some(value);
        }
        i += 1;
    }
    None
}

/// A counting semaphore: at most `n` requests in flight per judge.
pub struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    pub fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    pub fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        let mut free = self.free.lock().expect("slots");
        while *free == 0 {
            free = self.freed.wait(free).expect("slots");
        }
        *free -= 1;
        drop(free);
        let out = work();
        *self.free.lock().expect("slots") += 1;
        self.freed.notify_one();
        out
    }
}

/// The settings of `judge_http(...)`.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub name: String,
    pub url: Url,
    pub model: String,
    pub template: String,
    pub timeout: Duration,
    pub retries: u32,
    pub concurrency: usize,
    pub fallback: f64,
    /// The first retry's wait; each further one doubles it.
    pub backoff: Duration,
}

impl HttpSettings {
    pub fn from_plan(model: &ModelPlan) -> Result<HttpSettings, String> {
        let args = ModelArgs::new(model, "judge");
        let fail = |key: &str, what: &str| args.fail(key, what);
        let text = |key: &str| args.text(key);
        let number = |key: &str| args.number(key)?.ok_or_else(|| fail(key, "a number"));
        let timeout = number("timeout_s")?;
        if !(timeout > 0.0 && timeout.is_finite()) {
            return Err(fail("timeout_s", "positive"));
        }
        let retries = number("retries")?;
        let concurrency = number("concurrency")?;
        if retries < 0.0 || concurrency < 1.0 {
            return Err(fail("retries` and `concurrency", "0 or more and 1 or more"));
        }
        Ok(HttpSettings {
            name: model.name.clone(),
            url: Url::parse(&text("url")?).map_err(|e| format!("judge `{}`: {e}", model.name))?,
            model: text("model")?,
            template: text("template")?,
            timeout: Duration::from_secs_f64(timeout),
            retries: retries as u32,
            concurrency: concurrency as usize,
            fallback: number("fallback")?,
            backoff: Duration::from_millis(250),
        })
    }
}

/// A judge behind an OpenAI-compatible endpoint.
pub struct HttpJudge {
    settings: HttpSettings,
    cache: Mutex<HashMap<String, f64>>,
    /// Fallbacks of the current batch: asked once per batch, forgotten at its end.
    failed: Mutex<HashMap<String, f64>>,
    stats: Mutex<JudgeStats>,
    slots: Slots,
}

impl HttpJudge {
    pub fn new(settings: HttpSettings) -> HttpJudge {
        let slots = Slots::new(settings.concurrency);
        HttpJudge {
            settings,
            cache: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            stats: Mutex::new(JudgeStats::default()),
            slots,
        }
    }

    fn known(&self, prompt: &str) -> Option<f64> {
        let cached = self.cache.lock().expect("cache").get(prompt).copied();
        cached.or_else(|| self.failed.lock().expect("failed").get(prompt).copied())
    }

    /// Asks the endpoint, retrying transient failures; the score or the fallback.
    fn fetch(&self, prompt: &str) -> f64 {
        let started = Instant::now();
        let body = json!({
            "model": self.settings.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0.0,
            "max_tokens": 16,
        })
        .to_string();
        let mut outcome = Err(String::new());
        for attempt in 0..=self.settings.retries {
            if attempt > 0 {
                self.stats.lock().expect("stats").retries += 1;
                let wait = self.settings.backoff * 2u32.saturating_pow(attempt - 1).min(32);
                std::thread::sleep(wait);
            }
            self.stats.lock().expect("stats").requests += 1;
            let answer = self.slots.run(|| {
                http::post_json(
                    &self.settings.url,
                    "/chat/completions",
                    &body,
                    self.settings.timeout,
                )
            });
            match answer {
                Ok(body) => {
                    outcome = score_of_completion(&body);
                    break;
                }
                Err(error) => {
                    outcome = Err(error.message);
                    if !error.transient {
                        break;
                    }
                }
            }
        }
        let mut stats = self.stats.lock().expect("stats");
        stats.seconds += started.elapsed().as_secs_f64();
        match outcome {
            Ok(score) => {
                drop(stats);
                self.cache
                    .lock()
                    .expect("cache")
                    .insert(prompt.to_string(), score);
                score
            }
            Err(error) => {
                stats.fallbacks += 1;
                stats.last_error = Some(format!(
                    "judge `{}` at {}:{}{}: {error}",
                    self.settings.name,
                    self.settings.url.host,
                    self.settings.url.port,
                    self.settings.url.path
                ));
                drop(stats);
                let fallback = self.settings.fallback;
                self.failed
                    .lock()
                    .expect("failed")
                    .insert(prompt.to_string(), fallback);
                fallback
            }
        }
    }
}

/// The score in an OpenAI chat completion: `choices[0].message.content`.
pub fn score_of_completion(body: &str) -> Result<f64, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let content = value
        .pointer("/choices/0/message/content")
        .and_then(serde_json::Value::as_str)
        .ok_or("the answer has no `choices[0].message.content`")?;
    parse_score(content).ok_or_else(|| {
        let excerpt: String = content.chars().take(80).collect();
        format!("the reply {excerpt:?} holds no score")
    })
}

impl JudgeBackend for HttpJudge {
    fn prompt(&self, args: &[(&str, &Value<'_>)]) -> String {
        render_prompt(&self.settings.template, args)
    }

    fn prefetch(&self, prompts: &[String]) {
        let mut todo: Vec<&String> = prompts.iter().filter(|p| self.known(p).is_none()).collect();
        todo.sort();
        todo.dedup();
        let next = Mutex::new(0usize);
        let workers = self.settings.concurrency.min(todo.len());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let index = {
                            let mut next = next.lock().expect("queue");
                            *next += 1;
                            *next - 1
                        };
                        let Some(prompt) = todo.get(index) else {
                            break;
                        };
                        self.fetch(prompt);
                    }
                });
            }
        });
    }

    fn score_prompt(&self, prompt: &str) -> Result<f64, String> {
        self.stats.lock().expect("stats").asked += 1;
        if let Some(score) = self.known(prompt) {
            self.stats.lock().expect("stats").cache_hits += 1;
            return Ok(score);
        }
        Ok(self.fetch(prompt))
    }

    fn cached_score(&self, prompt: &str) -> Option<f64> {
        self.known(prompt)
    }

    fn end_batch(&self) {
        self.failed.lock().expect("failed").clear();
    }

    fn stats(&self) -> JudgeStats {
        self.stats.lock().expect("stats").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn scores_are_read_from_replies() {
        assert_eq!(parse_score("0.75"), Some(0.75));
        assert_eq!(parse_score("Score: 1"), Some(1.0));
        assert_eq!(parse_score("I'd say 8/10."), Some(0.8));
        assert_eq!(parse_score("8 / 10"), Some(0.8));
        assert_eq!(parse_score("-0.5 overall"), Some(-0.5));
        assert_eq!(parse_score("1."), Some(1.0));
        assert_eq!(parse_score("no idea"), None);
        assert_eq!(parse_score(""), None);
    }

    #[test]
    fn prompts_fill_the_template() {
        let q = Value::Text(Cow::Borrowed("2+2?"));
        let r = Value::Text(Cow::Borrowed("4"));
        let args = [("question", &q), ("reference", &r)];
        assert_eq!(
            render_prompt("Q: {question} R: {reference} {other}", &args),
            "Q: 2+2? R: 4 {other}"
        );
        let default = render_prompt("", &args);
        assert!(
            default.contains("Question: 2+2?\nReference: 4\n"),
            "{default}"
        );
        // A value is not searched for holes: a caption that says `{question}` stays as it is.
        let caption = Value::Text(Cow::Borrowed("a sign reading {question}"));
        let args = [("caption", &caption), ("question", &q)];
        assert_eq!(
            render_prompt("{{caption}} {question}}", &args),
            "{a sign reading {question}} 2+2?}"
        );
    }

    #[test]
    fn completions_give_their_score() {
        let body = r#"{"choices":[{"message":{"role":"assistant","content":"0.9"}}]}"#;
        assert_eq!(score_of_completion(body), Ok(0.9));
        assert!(score_of_completion("{}").unwrap_err().contains("choices"));
        assert!(
            score_of_completion(r#"{"choices":[{"message":{"content":"good"}}]}"#)
                .unwrap_err()
                .contains("no score")
        );
    }
}
