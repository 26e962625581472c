//! Validation findings: stable codes, where they point, and the report that
//! collects them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every validation code `ice` reports. The serialised names are stable: tools
/// and tests match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Code {
    /// Malformed JSON or YAML, or a document over the size limit.
    #[serde(rename = "E_PARSE")]
    Parse,
    /// A `schema_version` that ice does not accept.
    #[serde(rename = "E_SCHEMA_VERSION")]
    SchemaVersion,
    /// Two nodes share an id.
    #[serde(rename = "E_DUPLICATE_ID")]
    DuplicateId,
    /// A dependency names no node.
    #[serde(rename = "E_MISSING_DEPENDENCY")]
    MissingDependency,
    /// A node depends on itself.
    #[serde(rename = "E_SELF_DEPENDENCY")]
    SelfDependency,
    /// A cycle that no recursive node forms.
    #[serde(rename = "E_CYCLE")]
    Cycle,
    /// A `type` that is neither builtin nor registered.
    #[serde(rename = "E_UNKNOWN_NODE_TYPE")]
    UnknownNodeType,
    /// A key that the node type does not have.
    #[serde(rename = "E_UNKNOWN_FIELD")]
    UnknownField,
    /// A wrong type, a missing required field or a value out of range.
    #[serde(rename = "E_INVALID_FIELD")]
    InvalidField,
    /// A `tool_name` that no registered tool has.
    #[serde(rename = "E_UNKNOWN_TOOL")]
    UnknownTool,
    /// An agent, workflow or snippet reference that resolves to nothing.
    #[serde(rename = "E_UNKNOWN_REF")]
    UnknownRef,
    /// A JSON Schema (or simple schema) that is not valid.
    #[serde(rename = "E_INVALID_SCHEMA")]
    InvalidSchema,
    /// An input mapping whose source is not a dependency.
    #[serde(rename = "E_MAPPING_NOT_DEPENDENCY")]
    MappingNotDependency,
    /// An input mapping whose key the source's output schema does not have.
    #[serde(rename = "E_MAPPING_KEY")]
    MappingKey,
    /// A template that does not parse.
    #[serde(rename = "E_TEMPLATE_SYNTAX")]
    TemplateSyntax,
    /// A template variable that nothing provides.
    #[serde(rename = "E_TEMPLATE_VARIABLE")]
    TemplateVariable,
    /// An expression that does not parse.
    #[serde(rename = "E_EXPRESSION_SYNTAX")]
    ExpressionSyntax,
    /// A mapped field whose JSON type the target's input schema does not accept.
    #[serde(rename = "E_EDGE_SCHEMA")]
    EdgeSchema,
    /// A rule of one node type (human, swarm, recursive, code…) is broken.
    #[serde(rename = "E_NODE_CONFIG")]
    NodeConfig,
    /// Warning: a node that nothing reaches or uses.
    #[serde(rename = "W_UNUSED_OUTPUT")]
    UnusedOutput,
    /// Warning: an unknown top-level key.
    #[serde(rename = "W_UNKNOWN_KEY")]
    UnknownKey,
}

impl Code {
    /// The stable name, as serialised (`E_CYCLE`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Parse => "E_PARSE",
            Code::SchemaVersion => "E_SCHEMA_VERSION",
            Code::DuplicateId => "E_DUPLICATE_ID",
            Code::MissingDependency => "E_MISSING_DEPENDENCY",
            Code::SelfDependency => "E_SELF_DEPENDENCY",
            Code::Cycle => "E_CYCLE",
            Code::UnknownNodeType => "E_UNKNOWN_NODE_TYPE",
            Code::UnknownField => "E_UNKNOWN_FIELD",
            Code::InvalidField => "E_INVALID_FIELD",
            Code::UnknownTool => "E_UNKNOWN_TOOL",
            Code::UnknownRef => "E_UNKNOWN_REF",
            Code::InvalidSchema => "E_INVALID_SCHEMA",
            Code::MappingNotDependency => "E_MAPPING_NOT_DEPENDENCY",
            Code::MappingKey => "E_MAPPING_KEY",
            Code::TemplateSyntax => "E_TEMPLATE_SYNTAX",
            Code::TemplateVariable => "E_TEMPLATE_VARIABLE",
            Code::ExpressionSyntax => "E_EXPRESSION_SYNTAX",
            Code::EdgeSchema => "E_EDGE_SCHEMA",
            Code::NodeConfig => "E_NODE_CONFIG",
            Code::UnusedOutput => "W_UNUSED_OUTPUT",
            Code::UnknownKey => "W_UNKNOWN_KEY",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: what is wrong, in which node, at which JSON path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The stable code.
    pub code: Code,
    /// The id of the node concerned, when there is one.
    pub node: Option<String>,
    /// A JSON path into the document, such as `$.nodes[2].tool_args`.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl Diagnostic {
    /// A finding at `path`, optionally about `node`.
    pub fn new(
        code: Code,
        node: Option<&str>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            node: node.map(str::to_owned),
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.code, self.path)?;
        if let Some(node) = &self.node {
            write!(f, " (node `{node}`)")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All findings of a validation: errors block a run, warnings do not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// True when there is no error.
    pub valid: bool,
    /// Findings that block a run.
    pub errors: Vec<Diagnostic>,
    /// Findings that do not.
    pub warnings: Vec<Diagnostic>,
}

impl ValidationReport {
    /// A report from collected findings.
    pub fn new(errors: Vec<Diagnostic>, warnings: Vec<Diagnostic>) -> Self {
        ValidationReport {
            valid: errors.is_empty(),
            errors,
            warnings,
        }
    }

    /// The error codes, in order, for quick checks.
    pub fn error_codes(&self) -> Vec<Code> {
        self.errors.iter().map(|d| d.code).collect()
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.errors {
            writeln!(f, "error: {d}")?;
        }
        for d in &self.warnings {
            writeln!(f, "warning: {d}")?;
        }
        Ok(())
    }
}

/// Collects findings while a document is read and checked.
#[derive(Debug, Default)]
pub struct Findings {
    /// Errors so far.
    pub errors: Vec<Diagnostic>,
    /// Warnings so far.
    pub warnings: Vec<Diagnostic>,
}

impl Findings {
    /// Records an error.
    pub fn error(
        &mut self,
        code: Code,
        node: Option<&str>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.errors.push(Diagnostic::new(code, node, path, message));
    }

    /// Records a warning.
    pub fn warn(
        &mut self,
        code: Code,
        node: Option<&str>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.warnings
            .push(Diagnostic::new(code, node, path, message));
    }

    /// The findings as a report.
    pub fn into_report(self) -> ValidationReport {
        ValidationReport::new(self.errors, self.warnings)
    }
}
