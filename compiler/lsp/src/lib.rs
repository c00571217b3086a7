//! The rlx language server (`rlxc lsp`). Only this crate knows JSON-RPC; what it answers comes from
//! the compiler's own phases (features.rs), so an editor sees exactly what `rlxc check` reports.
//!
//! One thread owns the documents. Changes are applied as they arrive, but a document is analysed
//! only when no message is waiting: a burst of keystrokes costs one analysis, and a request queued
//! behind a newer change is answered from the newer text. A panic in a handler is caught, logged and
//! answered with an error; it never stops the server.

pub mod document;
pub mod features;
pub mod position;

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest,
    References, Rename, Request as _, SignatureHelpRequest,
};
use lsp_types::{
    CodeActionProviderCapability, CompletionOptions, OneOf, PublishDiagnosticsParams,
    ServerCapabilities, SignatureHelpOptions, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, TextDocumentSyncSaveOptions, Uri,
};

use document::Document;

pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::FULL),
                save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                ..Default::default()
            },
        )),
        hover_provider: Some(lsp_types::HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), ":".into(), "{".into()]),
            ..Default::default()
        }),
        signature_help_provider: Some(SignatureHelpOptions {
            trigger_characters: Some(vec!["(".into(), ",".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Serves on standard input and output until the client shuts the server down.
pub fn run_stdio() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (connection, io_threads) = Connection::stdio();
    serve(connection)?;
    io_threads.join()?;
    Ok(())
}

/// Serves on a connection (stdio, or an in-memory one in tests).
pub fn serve(connection: Connection) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let capabilities = serde_json::to_value(capabilities())?;
    connection.initialize(capabilities)?;
    let mut server = Server {
        documents: HashMap::new(),
        texts: HashMap::new(),
        stale: HashSet::new(),
    };
    loop {
        // Analyse what changed only when no message is waiting.
        if connection.receiver.is_empty() {
            server.refresh(&connection);
        }
        let Ok(message) = connection.receiver.recv() else {
            return Ok(());
        };
        match message {
            Message::Request(request) => {
                if connection.handle_shutdown(&request)? {
                    return Ok(());
                }
                // Answer from the newest text: apply changes queued behind this request first.
                let mut later = Vec::new();
                while let Ok(next) = connection.receiver.try_recv() {
                    match next {
                        Message::Notification(n) => server.notification(n),
                        other => later.push(other),
                    }
                }
                server.refresh(&connection);
                let response = server.request(request);
                connection.sender.send(Message::Response(response))?;
                for message in later {
                    match message {
                        Message::Request(r) => {
                            if connection.handle_shutdown(&r)? {
                                return Ok(());
                            }
                            let response = server.request(r);
                            connection.sender.send(Message::Response(response))?;
                        }
                        Message::Notification(n) => server.notification(n),
                        Message::Response(_) => {}
                    }
                }
            }
            Message::Notification(notification) => server.notification(notification),
            Message::Response(_) => {}
        }
    }
}

struct Server {
    documents: HashMap<Uri, Document>,
    /// The newest text of each open document, with its version and whether to check its data.
    texts: HashMap<Uri, (String, i32, bool)>,
    /// Documents whose text changed since they were analysed.
    stale: HashSet<Uri>,
}

impl Server {
    fn notification(&mut self, notification: Notification) {
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(
                    notification.params,
                ) {
                    let d = p.text_document;
                    self.texts.insert(d.uri.clone(), (d.text, d.version, true));
                    self.stale.insert(d.uri);
                }
            }
            DidChangeTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(
                    notification.params,
                ) && let Some(change) = p.content_changes.into_iter().last()
                {
                    let uri = p.text_document.uri;
                    self.texts
                        .insert(uri.clone(), (change.text, p.text_document.version, false));
                    self.stale.insert(uri);
                }
            }
            DidSaveTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidSaveTextDocumentParams>(
                    notification.params,
                ) && let Some(entry) = self.texts.get_mut(&p.text_document.uri)
                {
                    entry.2 = true; // the data files may have changed too
                    self.stale.insert(p.text_document.uri);
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(
                    notification.params,
                ) {
                    self.texts.remove(&p.text_document.uri);
                    self.documents.remove(&p.text_document.uri);
                    self.stale.remove(&p.text_document.uri);
                }
            }
            _ => {}
        }
    }

    /// Analyses every stale document and publishes its diagnostics.
    fn refresh(&mut self, connection: &Connection) {
        let mut stale: Vec<Uri> = self.stale.drain().collect();
        stale.sort();
        for uri in stale {
            let Some((text, version, data)) = self.texts.get(&uri).cloned() else {
                continue;
            };
            let analysed = catch_unwind(AssertUnwindSafe(|| {
                Document::new(uri.clone(), text, version, data)
            }));
            let Ok(document) = analysed else {
                log(
                    connection,
                    &format!("analysing {} panicked: this is a bug in rlx", uri.as_str()),
                );
                continue;
            };
            let params = PublishDiagnosticsParams {
                uri: uri.clone(),
                diagnostics: features::diagnostics(&document),
                version: Some(version),
            };
            let notification = Notification::new(PublishDiagnostics::METHOD.to_string(), params);
            let _ = connection.sender.send(Message::Notification(notification));
            if let Some(entry) = self.texts.get_mut(&uri) {
                entry.2 = false;
            }
            self.documents.insert(uri, document);
        }
    }

    fn request(&mut self, request: Request) -> Response {
        let id = request.id.clone();
        let method = request.method.clone();
        match catch_unwind(AssertUnwindSafe(|| self.dispatch(request))) {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err((code, message))) => Response::new_err(id, code as i32, message),
            Err(_) => {
                eprintln!("rlx-lsp: `{method}` panicked: this is a bug in rlx");
                Response::new_err(
                    id,
                    ErrorCode::InternalError as i32,
                    format!("`{method}` failed: this is a bug in rlx"),
                )
            }
        }
    }

    fn document(&self, uri: &Uri) -> Result<&Document, (ErrorCode, String)> {
        self.documents.get(uri).ok_or_else(|| {
            (
                ErrorCode::InvalidParams,
                format!("{} is not open", uri.as_str()),
            )
        })
    }

    fn dispatch(&mut self, request: Request) -> Result<serde_json::Value, (ErrorCode, String)> {
        fn params<P: serde::de::DeserializeOwned>(
            request: Request,
        ) -> Result<P, (ErrorCode, String)> {
            serde_json::from_value(request.params)
                .map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
        }
        let json = |value: serde_json::Result<serde_json::Value>| {
            value.map_err(|e| (ErrorCode::InternalError, e.to_string()))
        };
        match request.method.as_str() {
            HoverRequest::METHOD => {
                let p: lsp_types::HoverParams = params(request)?;
                let doc = self.document(&p.text_document_position_params.text_document.uri)?;
                let offset = doc
                    .lines
                    .offset(doc.text(), p.text_document_position_params.position);
                json(serde_json::to_value(features::hover(doc, offset)))
            }
            GotoDefinition::METHOD => {
                let p: lsp_types::GotoDefinitionParams = params(request)?;
                let doc = self.document(&p.text_document_position_params.text_document.uri)?;
                let offset = doc
                    .lines
                    .offset(doc.text(), p.text_document_position_params.position);
                json(serde_json::to_value(features::definition(doc, offset)))
            }
            References::METHOD => {
                let p: lsp_types::ReferenceParams = params(request)?;
                let doc = self.document(&p.text_document_position.text_document.uri)?;
                let offset = doc
                    .lines
                    .offset(doc.text(), p.text_document_position.position);
                json(serde_json::to_value(features::references(
                    doc,
                    offset,
                    p.context.include_declaration,
                )))
            }
            Rename::METHOD => {
                let p: lsp_types::RenameParams = params(request)?;
                let doc = self.document(&p.text_document_position.text_document.uri)?;
                let offset = doc
                    .lines
                    .offset(doc.text(), p.text_document_position.position);
                let edit = features::rename(doc, offset, &p.new_name)
                    .map_err(|m| (ErrorCode::InvalidRequest, m))?;
                json(serde_json::to_value(edit))
            }
            Completion::METHOD => {
                let p: lsp_types::CompletionParams = params(request)?;
                let doc = self.document(&p.text_document_position.text_document.uri)?;
                let offset = doc
                    .lines
                    .offset(doc.text(), p.text_document_position.position);
                json(serde_json::to_value(features::completion(doc, offset)))
            }
            SignatureHelpRequest::METHOD => {
                let p: lsp_types::SignatureHelpParams = params(request)?;
                let doc = self.document(&p.text_document_position_params.text_document.uri)?;
                let offset = doc
                    .lines
                    .offset(doc.text(), p.text_document_position_params.position);
                json(serde_json::to_value(features::signature_help(doc, offset)))
            }
            DocumentSymbolRequest::METHOD => {
                let p: lsp_types::DocumentSymbolParams = params(request)?;
                let doc = self.document(&p.text_document.uri)?;
                json(serde_json::to_value(features::symbols(doc)))
            }
            Formatting::METHOD => {
                let p: lsp_types::DocumentFormattingParams = params(request)?;
                let doc = self.document(&p.text_document.uri)?;
                json(serde_json::to_value(features::format(doc)))
            }
            CodeActionRequest::METHOD => {
                let p: lsp_types::CodeActionParams = params(request)?;
                let doc = self.document(&p.text_document.uri)?;
                json(serde_json::to_value(features::code_actions(doc, p.range)))
            }
            other => Err((
                ErrorCode::MethodNotFound,
                format!("rlx-lsp does not handle `{other}`"),
            )),
        }
    }
}

fn log(connection: &Connection, message: &str) {
    let params = lsp_types::LogMessageParams {
        typ: lsp_types::MessageType::ERROR,
        message: message.to_string(),
    };
    let notification = Notification::new(
        lsp_types::notification::LogMessage::METHOD.to_string(),
        params,
    );
    let _ = connection.sender.send(Message::Notification(notification));
}
