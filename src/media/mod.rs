//! Media building blocks: what uploaded bytes are (`inspect`), photos, thumbnails and avatars
//! (`image`), the low-priority threads that decode them (`workers`), and where blobs live, on
//! local disk or S3 (`blob`). Nothing here touches the database, the configuration or HTTP.

pub mod blob;
pub mod image;
pub mod inspect;
pub mod workers;
