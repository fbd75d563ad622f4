-- psql's catalog queries.
\d crm.customers
\d crm.orders
\d crm.staff_notes
\d crm.customer_contacts
\d+ crm.customers
\d+ crm.customer_contacts
\dt crm.*
\dv crm.*
\di crm.*
\ds crm.*
\dn crm
\dn+ crm
\d crm.customers_pkey
\d crm.nosuch
\dt nosuchschema.*
\dT pg_catalog.int4
\df pg_catalog.lower
\df+ pg_catalog.int4pl
\dx
\dconfig datestyle
\dd crm.*
\dC int4
\do pg_catalog.||
\sv crm.customer_contacts
\dL
\dS pg_class
\lo_list
