//! `report merge` over shard reports.
