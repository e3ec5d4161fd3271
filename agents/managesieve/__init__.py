"""ManageSieve server (RFC 5804): the account's Sieve scripts for Thunderbird's add-on and the webmail."""
