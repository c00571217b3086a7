//! `rlxc serve-judge MODEL_DIR --port P`: a reward model served over the OpenAI protocol, so a
//! recipe's `judge_http(...)` can be pointed at it (and the HTTP path tested against a real
//! server). `POST /v1/chat/completions` scores the conversation — its messages rendered as a
//! ChatML chat, as the in-process judge renders its prompt — and answers the score as the
//! assistant's message; `GET /v1/models` names the model; `GET /health` answers `ok`.
//! Each connection gets a thread; the model scores one request at a time.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use burn::tensor::backend::Backend;
use rlx_reward::http::{read_body, read_headers};
use serde_json::{Value, json};

use crate::judge::RewardModel;

/// Faults a server can be asked to show, for testing clients: a delay before every answer, and
/// HTTP 503 for the first requests.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    pub delay: Duration,
    pub fail_first: u64,
}

/// A listening judge server.
pub struct Server<B: Backend> {
    model: Mutex<RewardModel<B>>,
    name: String,
    device: B::Device,
    faults: Faults,
    requests: AtomicU64,
}

impl<B: Backend> Server<B>
where
    B::Device: Send + Sync,
{
    pub fn new(model: RewardModel<B>, name: String, device: B::Device, faults: Faults) -> Self {
        Server {
            model: Mutex::new(model),
            name,
            device,
            faults,
            requests: AtomicU64::new(0),
        }
    }

    /// Answers connections until the process ends.
    pub fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        std::thread::scope(|scope| {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => {
                        scope.spawn(move || self.connection(stream));
                    }
                    Err(error) => eprintln!("rlxc serve-judge: a connection failed: {error}"),
                }
            }
        });
        Ok(())
    }

    fn connection(&self, stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
        let Ok(mut writer) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        let (status, body) = match self.request(&mut reader) {
            Ok(answer) => answer,
            Err(message) => (
                400,
                json!({"error": {"message": message, "type": "invalid_request_error"}}),
            ),
        };
        let body = body.to_string();
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            503 => "Service Unavailable",
            _ => "Bad Request",
        };
        let _ = write!(
            writer,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = writer.flush();
    }

    fn request(&self, reader: &mut impl BufRead) -> Result<(u16, Value), String> {
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the request: {e}"))?;
        let mut words = line.split_whitespace();
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let headers = read_headers(reader).map_err(|e| format!("cannot read the headers: {e}"))?;
        let path = path.split('?').next().unwrap_or("");
        match (method, path) {
            ("GET", "/health") => Ok((200, json!("ok"))),
            ("GET", "/v1/models") => Ok((
                200,
                json!({"object": "list", "data": [{"id": self.name, "object": "model", "owned_by": "rlx"}]}),
            )),
            ("POST", "/v1/chat/completions") => {
                std::thread::sleep(self.faults.delay);
                if self.requests.fetch_add(1, Ordering::SeqCst) < self.faults.fail_first {
                    return Ok((
                        503,
                        json!({"error": {"message": "unavailable (--fail-first)", "type": "server_error"}}),
                    ));
                }
                let body = read_body(reader, &headers)
                    .map_err(|e| format!("cannot read the body: {e}"))?;
                let request: Value = serde_json::from_str(&body)
                    .map_err(|e| format!("the body is not JSON: {e}"))?;
                let prompt = prompt_of(&request)?;
                let score = {
                    let model = self.model.lock().map_err(|_| "the model failed earlier")?;
                    model.score_prompts(&[prompt.as_str()], &self.device)?[0]
                };
                Ok((200, completion(&self.name, score)))
            }
            _ => Ok((
                404,
                json!({"error": {"message": format!("no route {method} {path}"), "type": "not_found"}}),
            )),
        }
    }
}

/// The text a request asks about: the user's message when it is the only one, otherwise the
/// messages as `role: content` lines.
fn prompt_of(request: &Value) -> Result<String, String> {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("the request has no `messages` array")?;
    let content = |m: &Value| -> Result<String, String> {
        match m.get("content") {
            Some(Value::String(text)) => Ok(text.clone()),
            // OpenAI's content parts: the texts, in order.
            Some(Value::Array(parts)) => Ok(parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")),
            _ => Err("a message has no `content`".into()),
        }
    };
    match messages.as_slice() {
        [] => Err("`messages` is empty".into()),
        [only] => content(only),
        many => many
            .iter()
            .map(|m| {
                let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
                Ok(format!("{role}: {}", content(m)?))
            })
            .collect::<Result<Vec<_>, String>>()
            .map(|lines| lines.join("\n")),
    }
}

fn completion(model: &str, score: f64) -> Value {
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "id": format!("rlx-{created}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("{score}")},
            "finish_reason": "stop",
        }],
    })
}

/// Loads the reward model in `folder` on the CPU and serves it at `host:port` (port 0: any free
/// port), calling `ready` with the address once it listens.
pub fn serve_judge(
    folder: &std::path::Path,
    host: &str,
    port: u16,
    name: Option<String>,
    faults: Faults,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), String> {
    type Cpu = burn::backend::NdArray<f32>;
    let device = Default::default();
    let model = RewardModel::<Cpu>::load(folder, &device)?;
    let name = name.unwrap_or_else(|| {
        folder
            .file_name()
            .map_or("judge".into(), |n| n.to_string_lossy().into_owned())
    });
    let listener = TcpListener::bind((host, port))
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    ready(address);
    Server::new(model, name, device, faults)
        .serve(listener)
        .map_err(|e| format!("the server stopped: {e}"))
}
