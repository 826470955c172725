//! Writing a chunk's [`Changes`](super::changes::Changes) and the projector checkpoint inside
//! one open transaction. Expanded once per backend: the SQL is shared (both engines support
//! `ON CONFLICT ... DO UPDATE ... WHERE`), the query builder is concrete per database.

/// Rows per multi-row statement: a fixed size keeps prepared statements cached.
pub(crate) const ROWS: usize = 256;

/// `items` sorted by `key`: rows written in primary-key order land on neighbouring b-tree pages
/// (and mostly at the end of the tree while a log is replayed), instead of all over it.
pub(crate) fn in_key_order<T, K: Ord>(
    items: impl Iterator<Item = T>,
    key: impl FnMut(&T) -> K,
) -> Vec<T> {
    let mut items: Vec<T> = items.collect();
    items.sort_unstable_by_key(key);
    items
}

/// An object's primary-key prefix in the order the tables sort it (type by its text).
pub(crate) fn object_key(object: &healthscore_domain::ids::ObjectRef) -> (u64, &'static str, u64) {
    (object.portal.0, object.object_type.as_str(), object.id)
}

/// Runs one multi-row INSERT per [`ROWS`] items: `$head VALUES (...), ... $tail`.
macro_rules! insert_rows {
    ($conn:expr, $head:expr, $items:expr, $tail:expr, |$row:ident, $item:ident| $push:block) => {{
        let items: Vec<_> = $items;
        for chunk in items.chunks($crate::read_models::write::ROWS) {
            let mut query = sqlx::QueryBuilder::new($head);
            query.push_values(chunk, |mut $row, $item| $push);
            query.push($tail);
            query.build().execute(&mut *$conn).await?;
        }
    }};
}

/// Writes `$changes` and moves `$projector`'s checkpoint to `$position`, in the open transaction.
macro_rules! write_changes {
    ($conn:expr, $changes:expr, $projector:expr, $position:expr, $now:expr) => {{
        let conn = $conn;
        let changes: &$crate::read_models::changes::Changes = $changes;
        insert_rows!(
            conn,
            "INSERT INTO crm_objects (portal_id, object_type, object_id, deleted, existence_at, \
             merged_into, erased, created_at, updated_at) ",
            $crate::read_models::write::in_key_order(changes.objects.iter(), |(object, _)| {
                $crate::read_models::write::object_key(object)
            }),
            " ON CONFLICT (portal_id, object_type, object_id) DO UPDATE SET \
             deleted = CASE WHEN excluded.existence_at IS NOT NULL AND (crm_objects.existence_at IS NULL \
               OR excluded.existence_at >= crm_objects.existence_at) THEN excluded.deleted ELSE crm_objects.deleted END, \
             existence_at = CASE WHEN excluded.existence_at IS NOT NULL AND (crm_objects.existence_at IS NULL \
               OR excluded.existence_at >= crm_objects.existence_at) THEN excluded.existence_at ELSE crm_objects.existence_at END, \
             merged_into = COALESCE(excluded.merged_into, crm_objects.merged_into), \
             erased = CASE WHEN excluded.erased THEN excluded.erased ELSE crm_objects.erased END, \
             created_at = CASE WHEN crm_objects.created_at IS NULL OR (excluded.created_at IS NOT NULL \
               AND excluded.created_at < crm_objects.created_at) THEN excluded.created_at ELSE crm_objects.created_at END, \
             updated_at = CASE WHEN excluded.updated_at > crm_objects.updated_at THEN excluded.updated_at \
               ELSE crm_objects.updated_at END",
            |row, item| {
                let (object, change) = item;
                row.push_bind(object.portal.0 as i64)
                    .push_bind(object.object_type.as_str())
                    .push_bind(object.id as i64)
                    .push_bind(change.deleted.as_ref().is_some_and(|d| d.value))
                    .push_bind(change.deleted.as_ref().map(|d| d.occurred_at))
                    .push_bind(change.merged_into.map(|id| id as i64))
                    .push_bind(change.erased)
                    .push_bind(change.created_at)
                    .push_bind(change.updated_at);
            }
        );
        insert_rows!(
            conn,
            "INSERT INTO object_properties (portal_id, object_type, object_id, name, value, \
             occurred_at, position) ",
            $crate::read_models::write::in_key_order(changes.properties.iter(), |((object, name), _)| {
                ($crate::read_models::write::object_key(object), name.as_str())
            }),
            " ON CONFLICT (portal_id, object_type, object_id, name) DO UPDATE SET \
             value = excluded.value, occurred_at = excluded.occurred_at, position = excluded.position \
             WHERE excluded.occurred_at >= object_properties.occurred_at",
            |row, item| {
                let ((object, name), stamp) = item;
                row.push_bind(object.portal.0 as i64)
                    .push_bind(object.object_type.as_str())
                    .push_bind(object.id as i64)
                    .push_bind(name.as_str())
                    .push_bind(stamp.value.as_str())
                    .push_bind(stamp.occurred_at)
                    .push_bind(stamp.position);
            }
        );
        insert_rows!(
            conn,
            "INSERT INTO associations (portal_id, from_type, from_id, to_type, to_id, present, \
             occurred_at) ",
            $crate::read_models::write::in_key_order(changes.associations.iter(), |((from, to), _)| {
                (
                    $crate::read_models::write::object_key(from),
                    to.object_type.as_str(),
                    to.id,
                )
            }),
            " ON CONFLICT (portal_id, from_type, from_id, to_type, to_id) DO UPDATE SET \
             present = excluded.present, occurred_at = excluded.occurred_at \
             WHERE excluded.occurred_at >= associations.occurred_at",
            |row, item| {
                let ((from, to), stamp) = item;
                row.push_bind(from.portal.0 as i64)
                    .push_bind(from.object_type.as_str())
                    .push_bind(from.id as i64)
                    .push_bind(to.object_type.as_str())
                    .push_bind(to.id as i64)
                    .push_bind(stamp.value)
                    .push_bind(stamp.occurred_at);
            }
        );
        for object in &changes.erasures {
            sqlx::query(
                "UPDATE object_properties SET value = '' \
                 WHERE portal_id = $1 AND object_type = $2 AND object_id = $3",
            )
            .bind(object.portal.0 as i64)
            .bind(object.object_type.as_str())
            .bind(object.id as i64)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query(
            "INSERT INTO projector_checkpoints (projector, position, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (projector) DO UPDATE SET position = excluded.position, \
             updated_at = excluded.updated_at",
        )
        .bind($projector)
        .bind($position)
        .bind($now)
        .execute(&mut *conn)
        .await?;
    }};
}

pub(crate) use {insert_rows, write_changes};
