//! chatvault-import
