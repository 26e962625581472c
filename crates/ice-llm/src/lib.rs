//! LLM providers of ice. [`HttpConnector`] makes providers from a node's
//! `llm_config`: OpenAI and every OpenAI-compatible server (DeepSeek, Groq,
//! Ollama, vLLM, llama.cpp…) through [`OpenAiCompatible`], which streams
//! answers and assembles tool calls. With the `mock` feature, [`MockLlm`]
//! is a server on loopback that speaks the same protocol, for tests.
//!
//! ```no_run
//! use ice_orchestrator::Runtime;
//! use std::sync::Arc;
//! let runtime = Runtime::builder().llm_connector(Arc::new(ice_llm::HttpConnector)).build();
//! ```
#![warn(missing_docs)]

mod connector;
#[cfg(feature = "mock")]
mod mock;
mod openai;
mod prices;

pub use connector::HttpConnector;
#[cfg(feature = "mock")]
pub use mock::{MockLlm, MockReply};
pub use openai::OpenAiCompatible;
pub use prices::cost;
