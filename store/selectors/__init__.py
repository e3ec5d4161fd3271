"""Read-side queries of the store; one module per area, re-exported here for the directory."""

from store.selectors.directory import (
    account_addresses,
    account_by_address,
    domain_is_local,
    folder_by_name,
    folders_of_account,
)

__all__ = ["account_addresses", "account_by_address", "domain_is_local", "folder_by_name", "folders_of_account"]
