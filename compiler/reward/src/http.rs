//! A small HTTP/1.1 client and the server side's request reader, over `std::net`: what an
//! OpenAI-compatible judge needs (a JSON POST and its answer), with a deadline on every read and
//! write, and nothing else. `https` is refused: judges are served on the cluster's own network
//! (vLLM, SGLang, `rlxc serve-judge`).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// `http://host:port/path` split up.
#[derive(Clone, Debug, PartialEq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(format!(
                    "`{url}`: https is not supported; serve the judge over http on a private network"
                ));
            }
            _ => return Err(format!("`{url}` is not an http:// address")),
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("`{url}`: `{port}` is not a port"))?,
            ),
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("`{url}` names no host"));
        }
        Ok(Url {
            host: host.to_string(),
            port,
            path: path.trim_end_matches('/').to_string(),
        })
    }
}

/// Why a request failed: retrying may help (`transient`) or not.
#[derive(Debug, PartialEq)]
pub struct HttpError {
    pub message: String,
    pub transient: bool,
}

impl HttpError {
    fn transient(message: String) -> HttpError {
        HttpError {
            message,
            transient: true,
        }
    }
}

/// POSTs a JSON body and returns the response body of a 2xx answer. Connection problems,
/// timeouts, 429 and 5xx are transient; other statuses are not.
pub fn post_json(
    url: &Url,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<String, HttpError> {
    let address = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| HttpError::transient(format!("cannot resolve `{}`: {e}", url.host)))?
        .next()
        .ok_or_else(|| HttpError::transient(format!("`{}` has no address", url.host)))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|e| HttpError::transient(format!("cannot connect to {address}: {e}")))?;
    let io = |e: std::io::Error| {
        let timed_out = matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        );
        HttpError::transient(if timed_out {
            format!("no answer within {:.1} s", timeout.as_secs_f64())
        } else {
            format!("connection failed: {e}")
        })
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!(
        "POST {}{path} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        url.path,
        url.host,
        url.port,
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).map_err(io)?;
    if status_line.is_empty() {
        return Err(HttpError::transient(
            "the server closed the connection without answering".into(),
        ));
    }
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            HttpError::transient(format!("not an HTTP answer: {:?}", status_line.trim_end()))
        })?;
    let headers = read_headers(&mut reader).map_err(io)?;
    let body = read_body(&mut reader, &headers).map_err(io)?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let excerpt: String = body.chars().take(200).collect();
    Err(HttpError {
        message: format!("HTTP {status}: {excerpt}"),
        transient: status == 429 || status >= 500,
    })
}

/// Header lines up to the blank line, names lower-cased.
pub fn read_headers(reader: &mut impl BufRead) -> std::io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the headers end early",
            ));
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Ok(headers);
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A body by `Content-Length`, chunked, or up to the end of the connection.
pub fn read_body(
    reader: &mut impl BufRead,
    headers: &[(String, String)],
) -> std::io::Result<String> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut bytes = Vec::new();
    if header(headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| invalid("a bad chunk size"))?;
            if size == 0 {
                let mut trailer = String::new();
                reader.read_line(&mut trailer)?;
                break;
            }
            let start = bytes.len();
            bytes.resize(start + size, 0);
            reader.read_exact(&mut bytes[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(length) = header(headers, "content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid("a bad Content-Length"))?;
        bytes.resize(length, 0);
        reader.read_exact(&mut bytes)?;
    } else {
        reader.read_to_end(&mut bytes)?;
    }
    String::from_utf8(bytes).map_err(|_| invalid("a body that is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split() {
        assert_eq!(
            Url::parse("http://127.0.0.1:8000/v1/").unwrap(),
            Url {
                host: "127.0.0.1".into(),
                port: 8000,
                path: "/v1".into()
            }
        );
        assert_eq!(Url::parse("http://judge").unwrap().port, 80);
        assert!(Url::parse("https://x/v1").unwrap_err().contains("https"));
        assert!(Url::parse("judge:80").is_err());
        assert!(Url::parse("http://h:port/v1").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        let mut input: &[u8] = b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";
        let headers = vec![("transfer-encoding".to_string(), "chunked".to_string())];
        assert_eq!(read_body(&mut input, &headers).unwrap(), "Wikipedia");
    }
}
