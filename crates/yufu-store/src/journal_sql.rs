//! The SQL implementation of [`Journal`](crate::Journal), written once and
//! expanded by each backend crate (see `sql.rs` for why a macro).

/// Expands `impl Journal for $store`.
#[macro_export]
macro_rules! impl_sql_journal {
    ($store:ty, $db:ty) => {
        // TODO(helper): implemented in progress
    };
}
