-- Issue 13: key columns hold at most 80 characters (store::forms::KEY_CHARS), so eight of them
-- fit in one index entry. Records written before keep their longer keys cut to that length
-- here, as the records layer now derives them.
UPDATE form_records SET k1 = substr(k1, 1, 80), k2 = substr(k2, 1, 80), k3 = substr(k3, 1, 80), k4 = substr(k4, 1, 80), k5 = substr(k5, 1, 80), k6 = substr(k6, 1, 80), k7 = substr(k7, 1, 80), k8 = substr(k8, 1, 80) WHERE length(k1) > 80 OR length(k2) > 80 OR length(k3) > 80 OR length(k4) > 80 OR length(k5) > 80 OR length(k6) > 80 OR length(k7) > 80 OR length(k8) > 80
