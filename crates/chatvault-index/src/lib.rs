//! chatvault-index
