-- TPC-H orders and lineitem: the demo's source tables and its GaussDB target tables.
-- Valid in the GaussDB / openGauss subset. The demo creates them in the source database
-- (loaded with tpchgen-cli data) and in the target database (empty until the batches run).
-- Not CREATE SCHEMA IF NOT EXISTS: in an openGauss B-compatibility database that form makes a
-- binary-collation schema, where every char/varchar column then fails with 0A000 (measured on
-- openGauss 6.0.0). A plain CREATE SCHEMA takes the database's collation; DO runs it only when
-- the schema is missing (PostgreSQL and every openGauss mode have DO).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tpch') THEN
        EXECUTE 'CREATE SCHEMA tpch';
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS tpch.orders (
    o_orderkey      bigint        NOT NULL PRIMARY KEY,
    o_custkey       bigint        NOT NULL,
    o_orderstatus   char(1)       NOT NULL,
    o_totalprice    numeric(15,2) NOT NULL,
    o_orderdate     date          NOT NULL,
    o_orderpriority varchar(15)   NOT NULL,
    o_clerk         varchar(15)   NOT NULL,
    o_shippriority  integer       NOT NULL,
    o_comment       varchar(79)   NOT NULL
);

CREATE TABLE IF NOT EXISTS tpch.lineitem (
    l_orderkey      bigint        NOT NULL,
    l_partkey       bigint        NOT NULL,
    l_suppkey       bigint        NOT NULL,
    l_linenumber    integer       NOT NULL,
    l_quantity      numeric(15,2) NOT NULL,
    l_extendedprice numeric(15,2) NOT NULL,
    l_discount      numeric(15,2) NOT NULL,
    l_tax           numeric(15,2) NOT NULL,
    l_returnflag    char(1)       NOT NULL,
    l_linestatus    char(1)       NOT NULL,
    l_shipdate      date          NOT NULL,
    l_commitdate    date          NOT NULL,
    l_receiptdate   date          NOT NULL,
    l_shipinstruct  varchar(25)   NOT NULL,
    l_shipmode      varchar(10)   NOT NULL,
    l_comment       varchar(44)   NOT NULL,
    PRIMARY KEY (l_orderkey, l_linenumber)
);
