//! The runtime: the tools, executors and settings that workflows run with
//! (iceOS's runtime wiring).

use crate::agent::{AgentDefinition, AgentMemory};
use crate::code::{CodeLanguage, CodeLimits, CodePolicy, CodeRunner, CodeSnippet};
use crate::executor::{ExecutorRegistry, NodeExecutor};
use crate::llm::LlmConnector;
use crate::tool::{Tool, ToolRegistry};
use ice_core::diagnostic::Findings;
use ice_core::parse::{parse_text, Format};
use ice_core::validate::Catalog;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

struct RuntimeInner {
    tools: ToolRegistry,
    executors: ExecutorRegistry,
    workspace: PathBuf,
    workflows: HashMap<String, Arc<RegisteredWorkflow>>,
    code: CodeSetup,
    agents: HashMap<String, Arc<AgentDefinition>>,
    llm: Option<Arc<dyn LlmConnector>>,
    agent_memory: AgentMemory,
}

/// A workflow registered by name, for `workflow_ref`.
#[derive(Debug)]
pub struct RegisteredWorkflow {
    /// The blueprint document.
    pub document: Value,
    /// The directory its own relative references resolve against.
    pub base_dir: Option<PathBuf>,
}

/// Shared, cheap to clone. `Runtime::default()` has every builtin tool and
/// node type; [`Runtime::builder`] adds your own.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::builder().build()
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("tools", &self.inner.tools.names().collect::<Vec<_>>())
            .field("workspace", &self.inner.workspace)
            .finish()
    }
}

impl Runtime {
    /// A builder with the builtins registered.
    ///
    /// ```
    /// use ice_orchestrator::Runtime;
    /// let runtime = Runtime::builder().workspace("/tmp").build();
    /// assert!(runtime.tools().get("echo").is_some());
    /// ```
    pub fn builder() -> RuntimeBuilder {
        let mut tools = ToolRegistry::default();
        crate::tools::register_builtins(&mut tools);
        let mut executors = ExecutorRegistry::default();
        crate::executors::register_builtins(&mut executors);
        let workspace = std::env::var_os("ICE_WORKSPACE")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        RuntimeBuilder {
            tools,
            executors,
            workspace,
            workflows: HashMap::new(),
            code: CodeSetup::default(),
            agents: HashMap::new(),
            llm: None,
        }
    }

    /// The registered tools.
    pub fn tools(&self) -> &ToolRegistry {
        &self.inner.tools
    }

    /// The registered executors.
    pub fn executors(&self) -> &ExecutorRegistry {
        &self.inner.executors
    }

    /// The directory file tools are confined to.
    pub fn workspace(&self) -> &std::path::Path {
        &self.inner.workspace
    }

    /// The workflow registered under `name`.
    pub fn workflow(&self, name: &str) -> Option<&Arc<RegisteredWorkflow>> {
        self.inner.workflows.get(name)
    }

    /// The sandbox that runs code nodes, if this build has one.
    pub fn code_runner(&self) -> Option<&Arc<dyn CodeRunner>> {
        self.inner.code.runner.as_ref()
    }

    /// The registered code snippet of that name.
    pub fn code_snippet(&self, name: &str) -> Option<&CodeSnippet> {
        self.inner.code.snippets.get(name)
    }

    /// Which code nodes may run.
    pub fn code_policy(&self) -> CodePolicy {
        self.inner.code.policy
    }

    /// The default limits of code nodes.
    pub fn code_limits(&self) -> CodeLimits {
        self.inner.code.limits
    }

    /// A registered agent package.
    pub fn agent(&self, name: &str) -> Option<&Arc<AgentDefinition>> {
        self.inner.agents.get(name)
    }

    /// What makes LLM providers, if this build has one.
    pub fn llm_connector(&self) -> Option<&Arc<dyn LlmConnector>> {
        self.inner.llm.as_ref()
    }

    /// The conversations of agents with `memory`.
    pub fn agent_memory(&self) -> &AgentMemory {
        &self.inner.agent_memory
    }
}

impl Catalog for Runtime {
    fn has_tool(&self, name: &str) -> bool {
        self.inner.tools.get(name).is_some()
    }

    fn has_node_type(&self, type_name: &str) -> bool {
        self.inner.executors.contains(type_name)
    }
}

/// How code nodes run: the sandbox, the snippets, the policy and the limits.
struct CodeSetup {
    runner: Option<Arc<dyn CodeRunner>>,
    snippets: HashMap<String, CodeSnippet>,
    policy: CodePolicy,
    limits: CodeLimits,
}

impl Default for CodeSetup {
    fn default() -> Self {
        CodeSetup {
            runner: None,
            snippets: HashMap::new(),
            policy: CodePolicy::from_env(),
            limits: CodeLimits::default(),
        }
    }
}

/// Builds a [`Runtime`].
pub struct RuntimeBuilder {
    tools: ToolRegistry,
    executors: ExecutorRegistry,
    workspace: PathBuf,
    workflows: HashMap<String, Arc<RegisteredWorkflow>>,
    code: CodeSetup,
    agents: HashMap<String, Arc<AgentDefinition>>,
    llm: Option<Arc<dyn LlmConnector>>,
}

impl RuntimeBuilder {
    /// Adds a tool (replacing a builtin of the same name).
    pub fn tool(mut self, tool: impl Tool) -> Self {
        self.tools.register(Arc::new(tool));
        self
    }

    /// Adds an executor for a node type (custom, or replacing a builtin).
    pub fn executor(mut self, type_name: impl Into<String>, executor: impl NodeExecutor) -> Self {
        self.executors.register(type_name, Arc::new(executor));
        self
    }

    /// Sets the workspace directory of the file tools.
    pub fn workspace(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workspace = dir.into();
        self
    }

    /// Registers a blueprint document under `name`, for `workflow_ref`.
    pub fn workflow(mut self, name: impl Into<String>, document: Value) -> Self {
        self.workflows.insert(
            name.into(),
            Arc::new(RegisteredWorkflow {
                document,
                base_dir: None,
            }),
        );
        self
    }

    /// Registers every blueprint (`.json`, `.yaml`, `.yml`) of a directory
    /// under its file name without extension, and under its `name` when it
    /// has one.
    pub fn workflows_dir(mut self, dir: impl AsRef<Path>) -> Result<Self, String> {
        let dir = dir.as_ref();
        for (stem, document) in documents_in(dir)? {
            let registered = Arc::new(RegisteredWorkflow {
                document,
                base_dir: Some(dir.to_path_buf()),
            });
            if let Some(name) = registered.document.get("name").and_then(Value::as_str) {
                self.workflows.insert(name.to_owned(), registered.clone());
            }
            self.workflows.insert(stem, registered);
        }
        Ok(self)
    }

    /// Registers an agent package under `name`, for `package` and
    /// `agent_package`.
    pub fn agent(mut self, name: impl Into<String>, definition: AgentDefinition) -> Self {
        self.agents.insert(name.into(), Arc::new(definition));
        self
    }

    /// Registers every agent definition (`.json`, `.yaml`, `.yml`) of a
    /// directory under its file name without extension, and under its
    /// `name` when it has one.
    pub fn agents_dir(mut self, dir: impl AsRef<Path>) -> Result<Self, String> {
        let dir = dir.as_ref();
        for (stem, document) in documents_in(dir)? {
            let definition: AgentDefinition = serde_json::from_value(document)
                .map_err(|e| format!("{}/{stem}: {e}", dir.display()))?;
            let definition = Arc::new(definition);
            if let Some(name) = &definition.name {
                self.agents.insert(name.clone(), definition.clone());
            }
            self.agents.insert(stem, definition);
        }
        Ok(self)
    }

    /// Sets what makes LLM providers for `llm` and `agent` nodes
    /// (`ice_llm::HttpConnector`).
    pub fn llm_connector(mut self, connector: Arc<dyn LlmConnector>) -> Self {
        self.llm = Some(connector);
        self
    }

    /// Sets the sandbox that runs code nodes (`ice_sandbox::WasmSandbox`).
    pub fn code_runner(mut self, runner: Arc<dyn CodeRunner>) -> Self {
        self.code.runner = Some(runner);
        self
    }

    /// Registers a code snippet that code nodes run by giving its `name`.
    pub fn code_snippet(
        mut self,
        name: impl Into<String>,
        language: CodeLanguage,
        source: impl Into<Arc<str>>,
    ) -> Self {
        self.code.snippets.insert(
            name.into(),
            CodeSnippet {
                language,
                source: source.into(),
            },
        );
        self
    }

    /// Replaces the code policy read from `ICE_ENABLE_WASM` and
    /// `ICE_ENABLE_INLINE_CODE`.
    pub fn code_policy(mut self, policy: CodePolicy) -> Self {
        self.code.policy = policy;
        self
    }

    /// Sets the default limits of code nodes (256 MiB, 1 MiB of output).
    pub fn code_limits(mut self, limits: CodeLimits) -> Self {
        self.code.limits = limits;
        self
    }

    /// The runtime.
    pub fn build(self) -> Runtime {
        Runtime {
            inner: Arc::new(RuntimeInner {
                tools: self.tools,
                executors: self.executors,
                workspace: self.workspace,
                workflows: self.workflows,
                code: self.code,
                agents: self.agents,
                llm: self.llm,
                agent_memory: AgentMemory::default(),
            }),
        }
    }
}

/// The JSON and YAML documents of a directory, by file name without
/// extension, in name order.
fn documents_in(dir: &Path) -> Result<Vec<(String, Value)>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("json" | "yaml" | "yml")
            )
        })
        .collect();
    paths.sort();
    let mut documents = Vec::new();
    for path in paths {
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut f = Findings::default();
        let document = parse_text(&text, Format::detect(path.to_str(), &text), &mut f)
            .ok_or_else(|| format!("{}: {}", path.display(), f.into_report()))?;
        documents.push((stem.to_owned(), document));
    }
    Ok(documents)
}
