"""The CRM domain: customers and their identities, who sees what and the audit trail,
organizations and users, cases, leads, contracts, segments and campaigns."""
