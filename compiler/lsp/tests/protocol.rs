//! The server over an in-memory connection, driven as an editor would: open, change, save, and every
//! request the server offers.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{Value, json};

struct Client {
    connection: Connection,
    server: Option<JoinHandle<()>>,
    next_id: i32,
}

impl Client {
    fn start() -> Client {
        let (server, client) = Connection::memory();
        let handle = std::thread::spawn(move || rlx_lsp::serve(server).expect("the server runs"));
        let mut this = Client {
            connection: client,
            server: Some(handle),
            next_id: 0,
        };
        let capabilities = this.request("initialize", json!({"capabilities": {}}));
        assert!(
            capabilities["capabilities"]["hoverProvider"]
                .as_bool()
                .unwrap()
        );
        this.notify("initialized", json!({}));
        this
    }

    fn notify(&self, method: &str, params: Value) {
        let notification = Notification::new(method.to_string(), params);
        self.connection
            .sender
            .send(Message::Notification(notification))
            .unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        let request = Request::new(id.clone(), method.to_string(), params);
        self.connection
            .sender
            .send(Message::Request(request))
            .unwrap();
        loop {
            match self
                .connection
                .receiver
                .recv_timeout(Duration::from_secs(20))
                .expect("an answer")
            {
                Message::Response(response) if response.id == id => {
                    return match response.response_result {
                        Ok(value) => value,
                        Err(error) => json!({"error": error.message}),
                    };
                }
                _ => {}
            }
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&self, uri: &str) -> Vec<Value> {
        loop {
            match self
                .connection
                .receiver
                .recv_timeout(Duration::from_secs(20))
                .expect("diagnostics")
            {
                Message::Notification(n)
                    if n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri =>
                {
                    return n.params["diagnostics"].as_array().unwrap().clone();
                }
                _ => {}
            }
        }
    }

    fn open(&self, uri: &str, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "rlx", "version": 1, "text": text}}),
        );
        self.diagnostics(uri)
    }

    fn change(&self, uri: &str, version: i32, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        );
        self.diagnostics(uri)
    }

    fn at(&mut self, method: &str, uri: &str, line: u32, character: u32) -> Value {
        let mut params = json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
        if method == "textDocument/references" {
            params["context"] = json!({"includeDeclaration": true});
        }
        self.request(method, params)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        if let Some(server) = self.server.take() {
            server.join().expect("the server exits cleanly");
        }
    }
}

fn example_uri(relative: &str) -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(relative);
    let path = path.canonicalize().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    (rlx_lsp::document::uri_of(&path).as_str().to_string(), text)
}

/// (line, UTF-16 column) of the first occurrence of `needle` (plus `skip` characters).
fn position_of(text: &str, needle: &str, skip: usize) -> (u32, u32) {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in the text"))
        + skip;
    let line = text[..offset].matches('\n').count();
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    (
        line as u32,
        text[start..offset].encode_utf16().count() as u32,
    )
}

#[test]
fn examples_open_clean_and_a_typo_is_reported_where_it_is() {
    let mut client = Client::start();
    let (uri, text) = example_uri("papers/dapo.rlx");
    assert_eq!(client.open(&uri, &text), Vec::<Value>::new());
    let broken = text.replacen("reward = total", "reward = totl", 1);
    let diagnostics = client.change(&uri, 2, &broken);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let d = &diagnostics[0];
    assert_eq!(d["code"], "E0202");
    let (line, column) = position_of(&broken, "totl", 0);
    assert_eq!(
        d["range"]["start"],
        json!({"line": line, "character": column})
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `total`?")
    );
    // The quick fix puts the name right.
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": d["range"], "context": {"diagnostics": []}}),
    );
    assert_eq!(actions[0]["title"], "Replace with `total`");
    let edit = &actions[0]["edit"]["changes"][&uri][0];
    assert_eq!(edit["newText"], "total");
    // Fixed again: no diagnostics.
    assert_eq!(client.change(&uri, 3, &text), Vec::<Value>::new());
}

#[test]
fn hover_definition_references_and_rename() {
    let mut client = Client::start();
    let (uri, text) = example_uri("papers/dapo.rlx");
    client.open(&uri, &text);
    // Hover on a use of a reward shows its signature and doc comment.
    let (line, column) = position_of(&text, "correct(c, ex) + overlong", 1);
    let hover = client.at("textDocument/hover", &uri, line, column);
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(
        value.contains("reward correct(c: completion, ex: math) -> float"),
        "{value}"
    );
    assert!(
        value.contains("+1 when the answer line equals the reference"),
        "{value}"
    );
    // Hover on a standard library function shows its declaration and module.
    let (line, column) = position_of(&text, "math_equiv(answer", 2);
    let value = client.at("textDocument/hover", &uri, line, column)["contents"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        value.contains("extern fn math_equiv(answer: text, reference: text) -> bool"),
        "{value}"
    );
    assert!(value.contains("std::verify"), "{value}");
    // A field of the row.
    let (line, column) = position_of(&text, "ex.answer", 4);
    let value = client.at("textDocument/hover", &uri, line, column)["contents"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(value.contains("answer: text"), "{value}");
    // Definition of a use, in this file.
    let definition = client.at("textDocument/definition", &uri, line, column);
    let (def_line, _) = position_of(&text, "answer:      text", 0);
    assert_eq!(definition["range"]["start"]["line"], def_line);
    let (line, column) = position_of(&text, "correct(c, ex) + overlong", 1);
    let definition = client.at("textDocument/definition", &uri, line, column);
    assert_eq!(definition["uri"], uri);
    let (def_line, def_column) = position_of(&text, "correct(c: completion", 0);
    assert_eq!(
        definition["range"]["start"],
        json!({"line": def_line, "character": def_column})
    );
    // Definition of a standard library function opens its source.
    let (line, column) = position_of(&text, "math_equiv(answer", 2);
    let definition = client.at("textDocument/definition", &uri, line, column);
    let target = definition["uri"].as_str().unwrap();
    assert!(target.ends_with("/verify.rlx"), "{target}");
    let path = rlx_lsp::document::path_of(&target.parse().unwrap()).unwrap();
    let stdlib = std::fs::read_to_string(path).unwrap();
    let line = definition["range"]["start"]["line"].as_u64().unwrap() as usize;
    assert!(stdlib.lines().nth(line).unwrap().contains("fn math_equiv"));
    // References of `correct`: its definition and every use (two in the filter, one in `total`).
    let (line, column) = position_of(&text, "correct(c: completion", 0);
    let references = client.at("textDocument/references", &uri, line, column);
    assert_eq!(references.as_array().unwrap().len(), 4, "{references:#?}");
    // Rename it.
    let edit = client.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": column}, "newName": "right"}),
    );
    assert_eq!(edit["changes"][&uri].as_array().unwrap().len(), 4);
    let refused = client.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": column}, "newName": "not a name"}),
    );
    assert!(refused["error"].as_str().unwrap().contains("is not a name"));
}

#[test]
fn completion_symbols_signatures_and_formatting() {
    let mut client = Client::start();
    let (uri, text) = example_uri("papers/dapo.rlx");
    client.open(&uri, &text);
    let labels = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .unwrap_or_else(|| panic!("{value}"))
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };
    // After `ex.`: the dataset's fields.
    let (line, column) = position_of(&text, "ex.answer", 3);
    let answer = client.at("textDocument/completion", &uri, line, column);
    let fields = labels(&answer);
    assert_eq!(fields, ["prompt_text", "answer"]);
    // After `c.`: the completion's fields.
    let (line, column) = position_of(&text, "c.tokens", 2);
    let fields = labels(&client.at("textDocument/completion", &uri, line, column));
    assert!(fields.contains(&"tokens".to_string()) && fields.contains(&"truncated".to_string()));
    // In an `rl { ... }` block: its settings come first, with names in scope and keywords.
    let (line, column) = position_of(&text, "        steps = 1000", 8);
    let items = labels(&client.at("textDocument/completion", &uri, line, column));
    for expected in [
        "data",
        "filter",
        "rollout",
        "total",
        "match",
        "cosine",
        "math_equiv",
    ] {
        assert!(
            items.iter().any(|i| i == expected),
            "{expected} missing from {items:?}"
        );
    }
    assert_eq!(items[0], "data");
    // A standard library item not imported yet comes with its `use`.
    let all = client.at("textDocument/completion", &uri, line, column);
    let cosine = all
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "cosine")
        .unwrap();
    assert_eq!(
        cosine["additionalTextEdits"][0]["newText"],
        "use std::schedule::cosine\n"
    );
    assert_eq!(
        cosine["additionalTextEdits"][0]["range"]["start"]["line"],
        10
    );
    // Signature help inside a call.
    let (line, column) = position_of(&text, "cache = cache_tokens", 0);
    let help = client.at("textDocument/signatureHelp", &uri, line, column);
    assert_eq!(
        help["signatures"][0]["label"],
        "overlong_penalty(length: int, max: int, cache: int)"
    );
    assert_eq!(help["activeParameter"], 2);
    // Symbols.
    let symbols = client.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    );
    let names = labels(&json!(
        symbols
            .as_array()
            .unwrap()
            .iter()
            .map(|s| json!({"label": s["name"]}))
            .collect::<Vec<_>>()
    ));
    assert_eq!(
        names,
        [
            "math",
            "policy",
            "max_tokens",
            "cache_tokens",
            "n",
            "solve",
            "correct",
            "overlong",
            "total",
            "rl"
        ]
    );
    // Formatting: nothing to change on a formatted example; a whole-file edit otherwise.
    let edits = client.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    assert_eq!(edits, json!([]));
    let messy = text.replacen("let max_tokens = 20480", "let   max_tokens=20480", 1);
    client.change(&uri, 2, &messy);
    let edits = client.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    assert_eq!(edits[0]["newText"], text);
}

#[test]
fn non_ascii_text_positions_are_utf16() {
    let mut client = Client::start();
    let uri = "file:///tmp/rlx-lsp-unicode.rlx";
    let text = "// 𝔸 é\nlet r = \"𝔸é\" + x\n";
    let diagnostics = client.open(uri, text);
    let unknown = diagnostics
        .iter()
        .find(|d| d["code"] == "E0202")
        .expect("x is unknown");
    let (line, column) = position_of(text, "x\n", 0);
    assert_eq!(
        unknown["range"]["start"],
        json!({"line": line, "character": column})
    );
    assert_eq!(column, 16);
    let hover = client.at("textDocument/hover", uri, 1, 4);
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("let r = \"𝔸é\" + x"),
        "{hover}"
    );
}

#[test]
fn unknown_requests_and_bad_params_are_errors_not_crashes() {
    let mut client = Client::start();
    let answer = client.request(
        "textDocument/foldingRange",
        json!({"textDocument": {"uri": "file:///x.rlx"}}),
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("does not handle")
    );
    let answer = client.request("textDocument/hover", json!({"nonsense": true}));
    assert!(answer["error"].is_string());
    let answer = client.at("textDocument/hover", "file:///not-open.rlx", 0, 0);
    assert!(answer["error"].as_str().unwrap().contains("is not open"));
}

#[test]
fn schedules_show_their_values_and_match_arms_complete_enum_cases() {
    let mut client = Client::start();
    let (uri, text) = example_uri("papers/dapo.rlx");
    client.open(&uri, &text);
    // The learning rate: a linear warm-up over 20 steps, then 1e-6, over the run's 1,000 steps.
    let (line, column) = position_of(&text, "lr = warmup_constant", 0);
    let hover = client.at("textDocument/hover", &uri, line, column);
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(
        value.contains("| 0 | 0.000e0 |") && value.contains("| 250 | 1.000e-6 |"),
        "{value}"
    );
    assert!(value.contains("| 1000 | 1.000e-6 |"), "{value}");
    let (uri, text) = example_uri("doc_vqa.rlx");
    client.open(&uri, &text);
    let (line, column) = position_of(&text, "        long => 0.5", 8);
    let items = client.at("textDocument/completion", &uri, line, column);
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert_eq!(&labels[..2], ["short", "long"], "{labels:?}");
}
