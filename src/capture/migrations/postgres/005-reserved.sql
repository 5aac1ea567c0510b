-- Placeholder holding capture step 5 for the tile-storage migration being written beside this
-- branch (005-tiles.sql); migrations must be numbered without gaps. Replace this file with it.
SELECT 1;
