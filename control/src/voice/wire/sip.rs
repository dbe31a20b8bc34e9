//! The head of a SIP message (RFC 3261 §7, §20, §25.1): the start line and
//! the few headers the call tracker reads, strictly; other headers are skipped.

use super::SipError;
use crate::voice::sip::{Method, NameAddr, SipMessage, StartLine};

/// A message's head, parsed, and where its body is.
pub(super) struct Head<'a> {
    /// The message without its SDP.
    pub message: SipMessage,
    /// Content-Type, as written.
    pub content_type: Option<String>,
    /// The body, cut to Content-Length.
    pub body: &'a [u8],
}

/// Splits bytes at the empty line that ends a head (CRLF CRLF, or bare LFs):
/// the head's lines and what follows. `None` without such a line.
pub(super) fn split_head(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut start = 0;
    while let Some(off) = bytes.get(start..)?.iter().position(|&b| b == b'\n') {
        let end = start + off;
        let line = bytes.get(start..end)?;
        if line.is_empty() || line == b"\r" {
            return Some((bytes.get(..start)?, bytes.get(end + 1..)?));
        }
        start = end + 1;
    }
    None
}

/// The header fields of a head (after its start line) or of a MIME part:
/// lower-case full name (compact forms expanded) and value, with continuation
/// lines unfolded.
pub(super) fn fields(lines: &str) -> Result<Vec<(String, String)>, SipError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in lines.lines() {
        if line.starts_with([' ', '\t']) {
            let (_, value) = out.last_mut().ok_or(SipError::Malformed("header line"))?;
            value.push(' ');
            value.push_str(line.trim());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(SipError::Malformed("header line"))?;
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(SipError::Malformed("header name"));
        }
        out.push((full_name(name), value.trim().to_owned()));
    }
    Ok(out)
}

/// Parses the head of a whole message. `bytes` is at most `MAX_MESSAGE` long.
pub(super) fn parse(bytes: &[u8]) -> Result<Head<'_>, SipError> {
    let (head, rest) = split_head(bytes).ok_or(SipError::Malformed("no end of header"))?;
    let head = std::str::from_utf8(head).map_err(|_| SipError::Malformed("head not UTF-8"))?;
    let (first, lines) = head.split_once('\n').ok_or(SipError::NotSip)?;
    let start = start_line(first.strip_suffix('\r').unwrap_or(first))?;

    let mut call_id = None;
    let mut from = None;
    let mut to = None;
    let mut cseq = None;
    let mut contacts = Vec::new();
    let mut asserted = Vec::new();
    let mut expires = None;
    let mut content_type = None;
    let mut content_length = None;
    for (name, value) in fields(lines)? {
        match name.as_str() {
            "call-id" => once(&mut call_id, call_id_of(&value)?, "more than one Call-ID")?,
            "from" => once(&mut from, name_addr(&value)?.0, "more than one From")?,
            "to" => once(&mut to, name_addr(&value)?.0, "more than one To")?,
            "cseq" => once(&mut cseq, cseq_of(&value)?, "more than one CSeq")?,
            "contact" => contacts.extend(contacts_of(&value)?),
            "p-asserted-identity" => {
                for item in list(&value)? {
                    asserted.push(name_addr(item)?.0.uri);
                }
            }
            "expires" => once(&mut expires, seconds(&value)?, "more than one Expires")?,
            "content-type" => once(&mut content_type, value, "more than one Content-Type")?,
            "content-length" => {
                let n = value
                    .parse::<usize>()
                    .map_err(|_| SipError::Malformed("Content-Length"))?;
                if content_length.is_some_and(|m| m != n) {
                    return Err(SipError::Malformed("conflicting Content-Length"));
                }
                content_length = Some(n);
            }
            _ => {}
        }
    }
    let cseq: (u32, Method) = cseq.ok_or(SipError::Malformed("no CSeq"))?;
    if let StartLine::Request { method, .. } = &start {
        if *method != cseq.1 {
            return Err(SipError::Malformed(
                "CSeq method differs from the request's",
            ));
        }
    }
    // RFC 3261 §10.2.1.1: a Contact's expires parameter overrides the header.
    let expires = contacts.iter().find_map(|(_, e)| *e).or(expires);
    let body = match content_length {
        Some(n) => rest
            .get(..n)
            .ok_or(SipError::Malformed("body shorter than Content-Length"))?,
        None => rest,
    };
    Ok(Head {
        message: SipMessage {
            start,
            call_id: call_id.ok_or(SipError::Malformed("no Call-ID"))?,
            from: from.ok_or(SipError::Malformed("no From"))?,
            to: to.ok_or(SipError::Malformed("no To"))?,
            cseq,
            contacts: contacts.into_iter().map(|(c, _)| c).collect(),
            asserted,
            expires,
            sdp: None,
        },
        content_type,
        body,
    })
}

/// Request-Line or Status-Line (RFC 3261 §7.1, §7.2).
fn start_line(line: &str) -> Result<StartLine, SipError> {
    if let Some(rest) = strip_prefix_ignore_case(line, "SIP/2.0 ") {
        let code = rest.split(' ').next().unwrap_or_default();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SipError::NotSip);
        }
        let status: u16 = code.parse().map_err(|_| SipError::NotSip)?;
        if !(100..=699).contains(&status) {
            return Err(SipError::NotSip);
        }
        return Ok(StartLine::Response { status });
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SipError::NotSip);
    };
    if !is_token(method) || !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(SipError::NotSip);
    }
    if !is_uri(uri) {
        return Err(SipError::Malformed("Request-URI"));
    }
    Ok(StartLine::Request {
        method: method_of(method),
        uri: uri.to_owned(),
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// A method name; case-sensitive (RFC 3261 §7.1).
fn method_of(token: &str) -> Method {
    match token {
        "INVITE" => Method::Invite,
        "ACK" => Method::Ack,
        "BYE" => Method::Bye,
        "CANCEL" => Method::Cancel,
        "REGISTER" => Method::Register,
        "UPDATE" => Method::Update,
        "PRACK" => Method::Prack,
        other => Method::Other(other.to_owned()),
    }
}

/// Full lower-case header name, compact forms (RFC 3261 §7.3.3) expanded for
/// the headers read here.
fn full_name(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.as_str() {
        "i" => "call-id".into(),
        "f" => "from".into(),
        "t" => "to".into(),
        "m" => "contact".into(),
        "l" => "content-length".into(),
        "c" => "content-type".into(),
        _ => name,
    }
}

/// RFC 3261 §25.1 token.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// A URI as the tracker needs it: `scheme:rest`, no white space.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !rest.is_empty()
        && !rest
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

fn once<T>(slot: &mut Option<T>, value: T, twice: &'static str) -> Result<(), SipError> {
    if slot.replace(value).is_some() {
        return Err(SipError::Malformed(twice));
    }
    Ok(())
}

/// Call-ID: `word ["@" word]`, no white space.
fn call_id_of(value: &str) -> Result<String, SipError> {
    if value.is_empty()
        || value
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(SipError::Malformed("Call-ID"));
    }
    Ok(value.to_owned())
}

/// CSeq: a number below 2^31 and the method (RFC 3261 §8.1.1.5).
fn cseq_of(value: &str) -> Result<(u32, Method), SipError> {
    let mut words = value.split_ascii_whitespace();
    let (Some(n), Some(method), None) = (words.next(), words.next(), words.next()) else {
        return Err(SipError::Malformed("CSeq"));
    };
    let n: u32 = n
        .parse()
        .ok()
        .filter(|n| *n < 1 << 31)
        .ok_or(SipError::Malformed("CSeq number"))?;
    if !is_token(method) {
        return Err(SipError::Malformed("CSeq method"));
    }
    Ok((n, method_of(method)))
}

/// delta-seconds; values past 2^32-1 mean 2^32-1 (RFC 3261 §20.19).
fn seconds(value: &str) -> Result<u32, SipError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SipError::Malformed("Expires"));
    }
    Ok(value.parse::<u32>().unwrap_or(u32::MAX))
}

/// Contact values with their `expires` parameters; `*` (remove all bindings,
/// REGISTER) is a contact whose URI is `*`.
fn contacts_of(value: &str) -> Result<Vec<(NameAddr, Option<u32>)>, SipError> {
    if value == "*" {
        let star = NameAddr {
            uri: "*".into(),
            tag: None,
        };
        return Ok(vec![(star, None)]);
    }
    list(value)?
        .into_iter()
        .map(|item| {
            let (addr, params) = name_addr(item)?;
            let expires = param(params, "expires").map(seconds).transpose()?;
            Ok((addr, expires))
        })
        .collect()
}

/// Splits a header's comma-separated values (RFC 3261 §7.3.1), commas in
/// quoted strings and angle brackets aside.
fn list(value: &str) -> Result<Vec<&str>, SipError> {
    let mut items = Vec::new();
    let (mut quoted, mut escaped, mut angle, mut from) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                items.push(value.get(from..i).unwrap_or_default().trim());
                from = i + 1;
            }
            _ => {}
        }
    }
    if quoted || angle {
        return Err(SipError::Malformed("unclosed quote or bracket"));
    }
    items.push(value.get(from..).unwrap_or_default().trim());
    if items.iter().any(|i| i.is_empty()) {
        return Err(SipError::Malformed("empty list item"));
    }
    Ok(items)
}

/// A `name-addr` or `addr-spec` with header parameters (RFC 3261 §20.10,
/// §25.1): the URI and `tag`, and the parameters' text.
fn name_addr(value: &str) -> Result<(NameAddr, &str), SipError> {
    let value = value.trim();
    let bracketed = if let Some(quoted) = value.strip_prefix('"') {
        Some(after_quoted(quoted)?.trim_start())
    } else if let Some((display, _)) = value.split_once('<') {
        if !display.split_ascii_whitespace().all(is_token) {
            return Err(SipError::Malformed("display name"));
        }
        value.get(display.len()..)
    } else {
        None
    };
    let (uri, params) = match bracketed {
        Some(b) => b
            .strip_prefix('<')
            .and_then(|b| b.split_once('>'))
            .ok_or(SipError::Malformed("address"))?,
        None => value.split_once(';').unwrap_or((value, "")),
    };
    let (uri, params) = (uri.trim_end(), params.trim());
    if !is_uri(uri) || !(params.is_empty() || params.starts_with(';')) {
        return Err(SipError::Malformed("address"));
    }
    let tag = param(params, "tag").map(str::to_owned);
    let uri = uri.to_owned();
    Ok((NameAddr { uri, tag }, params))
}

/// What follows a quoted string whose opening quote is gone.
fn after_quoted(quoted: &str) -> Result<&str, SipError> {
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return quoted.get(i + 1..).ok_or(SipError::Malformed("quote")),
            _ => {}
        }
    }
    Err(SipError::Malformed("unclosed quote"))
}

/// The value of parameter `name` in `;a=b;c` text (names case-insensitive).
fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
