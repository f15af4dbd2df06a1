# SPDX-License-Identifier: Apache-2.0
"""The storage layer: one SQLite file per box with the item-status cache and the event outbox.

The only package that imports sqlite3 (and sqlite-utils). See ``database`` for opening it,
``writer`` for the one-writer group commit and its loss bound, ``cache`` and ``outbox`` for what
is stored, ``schema`` for the migrations; ``acquisitions``, ``ill`` and ``campaigns`` hold the
technical services' records; ``gateway_state`` is the catalog gateway's own file.
"""

from edge_service.store.acquisitions import (
    AcquisitionsStore,
    DeliveryRow,
    DeliveryTagRow,
    ExpectedCopy,
    ExpectResult,
    write_delivery,
    write_delivery_tag,
    write_received,
)
from edge_service.store.cache import (
    BOOTSTRAP_BATCH_ITEMS,
    LAST_SEEN_RESOLUTION_S,
    ItemCache,
    write_security_expected,
    write_tag_seen,
)
from edge_service.store.campaigns import (
    CampaignRow,
    Campaigns,
    CampaignTagRow,
    write_campaign,
    write_campaign_tag,
)
from edge_service.store.connection import ReadConnections, Synchronous
from edge_service.store.database import Store, StoreConfig
from edge_service.store.errors import (
    CommitFailed,
    DatabaseUnreadable,
    InvalidRecord,
    MigrationFailed,
    SchemaTooNew,
    StoreBusy,
    StoreClosed,
    StoreError,
    TransientStoreError,
    WriteFailed,
)
from edge_service.store.gateway_state import GatewayState, ItemChange
from edge_service.store.ill import IllLoan, IllLoans, delete_ill_loan, write_ill_loan
from edge_service.store.journal import (
    Journal,
    JournalEntry,
    JournalError,
    journal_advance,
    journal_begin,
    journal_end,
)
from edge_service.store.model import (
    CIRCULATION_STATUS_CODES,
    CachedItem,
    DeltaResult,
    ItemRecord,
    OutboxEntry,
    SnapshotProgress,
    TagObservation,
    catalog_version_newer,
    utc_now,
    utc_timestamp,
)
from edge_service.store.outbox import Outbox
from edge_service.store.schema import SCHEMA_VERSION
from edge_service.store.sync_state import GATE_TODAY, StateValue, write_state
from edge_service.store.writer import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_DELAY_S,
    StoreWriter,
    WriteConnection,
    WriterCounters,
)

__all__ = [
    "BOOTSTRAP_BATCH_ITEMS",
    "CIRCULATION_STATUS_CODES",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_DELAY_S",
    "GATE_TODAY",
    "LAST_SEEN_RESOLUTION_S",
    "SCHEMA_VERSION",
    "AcquisitionsStore",
    "CachedItem",
    "CampaignRow",
    "CampaignTagRow",
    "Campaigns",
    "CommitFailed",
    "DatabaseUnreadable",
    "DeliveryRow",
    "DeliveryTagRow",
    "DeltaResult",
    "ExpectResult",
    "ExpectedCopy",
    "GatewayState",
    "IllLoan",
    "IllLoans",
    "InvalidRecord",
    "ItemCache",
    "ItemChange",
    "ItemRecord",
    "Journal",
    "JournalEntry",
    "JournalError",
    "MigrationFailed",
    "Outbox",
    "OutboxEntry",
    "ReadConnections",
    "SchemaTooNew",
    "SnapshotProgress",
    "StateValue",
    "Store",
    "StoreBusy",
    "StoreClosed",
    "StoreConfig",
    "StoreError",
    "StoreWriter",
    "Synchronous",
    "TagObservation",
    "TransientStoreError",
    "WriteConnection",
    "WriteFailed",
    "WriterCounters",
    "catalog_version_newer",
    "delete_ill_loan",
    "journal_advance",
    "journal_begin",
    "journal_end",
    "utc_now",
    "utc_timestamp",
    "write_campaign",
    "write_campaign_tag",
    "write_delivery",
    "write_delivery_tag",
    "write_ill_loan",
    "write_received",
    "write_security_expected",
    "write_state",
    "write_tag_seen",
]
