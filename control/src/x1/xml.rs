//! The XML layer under [`super::message`]: a bounded, namespace-resolving tree
//! read with quick-xml, refusing DTDs (hence every entity declaration and
//! external entity), processing instructions and undeclared entities, and a
//! small escaping writer.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::error::X1Error;

/// Namespace of the XML Schema instance attributes (`xsi:type`).
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// Largest request body read (about 40 000 address targets).
pub const MAX_BODY: usize = 4 << 20;
/// Deepest element nesting accepted (the schema needs 8).
pub const MAX_DEPTH: usize = 32;

/// One element: resolved name, `xsi:type` (resolved), text and child elements.
#[derive(Debug, Default)]
pub struct Node {
    /// Namespace URI ("" for none).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// `xsi:type`, as (namespace URI, local name).
    pub xsi_type: Option<(String, String)>,
    /// Character data directly inside it (entities and character references resolved).
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Node>,
}

fn bad(message: impl Into<String>) -> X1Error {
    X1Error::schema(message)
}

/// Reads `body` into a tree.
///
/// # Errors
/// [`super::error::ErrorCode::SyntaxSchemaError`]: too large or deep, not UTF-8,
/// not well-formed, a DTD, a processing instruction, an undeclared entity or
/// namespace prefix, an attribute other than `xmlns*` and `xsi:*`.
pub fn parse(body: &[u8]) -> Result<Node, X1Error> {
    if body.len() > MAX_BODY {
        return Err(bad(format!("body exceeds {MAX_BODY} bytes")));
    }
    let text = std::str::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut scopes: Vec<Vec<(String, String)>> = Vec::new();
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            bad(format!(
                "not well-formed XML near byte {}: {e}",
                reader.buffer_position()
            ))
        })?;
        match event {
            Event::Decl(_) | Event::Comment(_) => {}
            Event::DocType(_) => {
                return Err(bad(
                    "DTDs (and with them entity declarations) are not accepted",
                ))
            }
            Event::PI(_) => return Err(bad("processing instructions are not accepted")),
            Event::Start(e) => {
                if root.is_some() {
                    return Err(bad("content after the root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(bad(format!("elements nested deeper than {MAX_DEPTH}")));
                }
                let mut scope = Vec::new();
                let mut attrs = Vec::new();
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| bad(format!("attribute: {e}")))?;
                    let key = std::str::from_utf8(attr.key.as_ref())
                        .map_err(|_| bad("attribute name is not UTF-8"))?
                        .to_owned();
                    let value = attr
                        .unescape_value()
                        .map_err(|e| bad(format!("attribute {key}: {e}")))?
                        .into_owned();
                    if key == "xmlns" {
                        scope.push((String::new(), value));
                    } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                        scope.push((prefix.to_owned(), value));
                    } else {
                        attrs.push((key, value));
                    }
                }
                scopes.push(scope);
                let qname = std::str::from_utf8(e.name().as_ref())
                    .map_err(|_| bad("element name is not UTF-8"))?
                    .to_owned();
                let (ns, name) = resolve(&scopes, &qname, true)?;
                let mut xsi_type = None;
                for (key, value) in attrs {
                    let (ans, local) = resolve(&scopes, &key, false)?;
                    match (ans.as_str(), local.as_str()) {
                        (XSI_NS, "type") => xsi_type = Some(resolve(&scopes, value.trim(), true)?),
                        (XSI_NS, "schemaLocation" | "noNamespaceSchemaLocation") => {}
                        _ => return Err(bad(format!("attribute {key} is not allowed on {name}"))),
                    }
                }
                stack.push(Node {
                    ns,
                    name,
                    xsi_type,
                    ..Node::default()
                });
            }
            Event::End(_) => {
                scopes.pop();
                let node = stack.pop().ok_or_else(|| bad("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Empty(_) => return Err(bad("unexpected empty element event")),
            Event::Text(t) => {
                let chunk = t.decode().map_err(|e| bad(format!("text: {e}")))?;
                push_text(&mut stack, &chunk)?;
            }
            Event::CData(c) => {
                let chunk = c.decode().map_err(|e| bad(format!("CDATA: {e}")))?;
                push_text(&mut stack, &chunk)?;
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(ch)) => ch,
                    Ok(None) => {
                        let name = r.decode().map_err(|e| bad(format!("entity: {e}")))?;
                        predefined(&name)
                            .ok_or_else(|| bad(format!("undeclared entity &{name};")))?
                    }
                    Err(e) => return Err(bad(format!("character reference: {e}"))),
                };
                push_text(&mut stack, ch.encode_utf8(&mut [0; 4]))?;
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(bad("document ends inside an element"));
    }
    root.ok_or_else(|| bad("no root element"))
}

/// The five entities XML predefines; nothing else is ever expanded.
fn predefined(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

fn push_text(stack: &mut [Node], chunk: &str) -> Result<(), X1Error> {
    match stack.last_mut() {
        Some(node) => {
            node.text.push_str(chunk);
            Ok(())
        }
        None if chunk.trim().is_empty() => Ok(()),
        None => Err(bad("text outside the root element")),
    }
}

/// Resolves a QName against the in-scope declarations; unprefixed names take
/// the default namespace only if `default_ns` (elements, QName values).
fn resolve(
    scopes: &[Vec<(String, String)>],
    qname: &str,
    default_ns: bool,
) -> Result<(String, String), X1Error> {
    let (prefix, local) = qname.split_once(':').unwrap_or(("", qname));
    if prefix.is_empty() && !default_ns {
        return Ok((String::new(), local.to_owned()));
    }
    let uri = scopes
        .iter()
        .rev()
        .flat_map(|s| s.iter().rev())
        .find(|(p, _)| p == prefix)
        .map(|(_, uri)| uri.clone());
    match uri {
        Some(uri) => Ok((uri, local.to_owned())),
        None if prefix.is_empty() => Ok((String::new(), local.to_owned())),
        None => Err(bad(format!("namespace prefix {prefix:?} is not declared"))),
    }
}

/// Builds a document; element names carry their prefix (`x1:xId`).
#[derive(Debug, Default)]
pub struct Writer(String);

impl Writer {
    /// A document starting with the XML declaration.
    #[must_use]
    pub fn new() -> Self {
        Self(String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"))
    }

    /// `<name attrs>`; `attrs` are written as given (names and values are ours).
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.0.push('<');
        self.0.push_str(name);
        for (k, v) in attrs {
            self.0.push(' ');
            self.0.push_str(k);
            self.0.push_str("=\"");
            self.0.push_str(&quick_xml::escape::escape(*v));
            self.0.push('"');
        }
        self.0.push('>');
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
    }

    /// `<name>text</name>`, text escaped.
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.open(name, &[]);
        self.0.push_str(&quick_xml::escape::escape(text));
        self.close(name);
    }

    /// The document.
    #[must_use]
    pub fn finish(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn dtds_entities_and_stray_attributes_are_refused() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxx">]><a>&x;</a>"#;
        assert!(parse(bomb).unwrap_err().description.contains("DTD"));
        let undeclared = b"<a>&x;</a>";
        assert!(parse(undeclared)
            .unwrap_err()
            .description
            .contains("undeclared entity"));
        let ok = parse(b"<a xmlns=\"urn:a\">&lt;&#65;&amp;<![CDATA[<b>]]></a>").unwrap();
        assert_eq!((ok.ns.as_str(), ok.text.as_str()), ("urn:a", "<A&<b>"));
        assert!(parse(b"<a b=\"1\"/>").is_err());
        assert!(parse(b"<a/><b/>").is_err());
        assert!(parse(b"<?pi x?><a/>").is_err());
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(deep.as_bytes())
            .unwrap_err()
            .description
            .contains("deeper"));
    }

    #[test]
    fn prefixes_resolve_per_scope() {
        let doc = br#"<p:a xmlns:p="urn:p" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><p:b xmlns:p="urn:q" xsi:type="p:T"/></p:a>"#;
        let root = parse(doc).unwrap();
        let b = &root.children[0];
        assert_eq!((root.ns.as_str(), b.ns.as_str()), ("urn:p", "urn:q"));
        assert_eq!(b.xsi_type, Some(("urn:q".into(), "T".into())));
        assert!(parse(b"<q:a/>").is_err());
    }
}
