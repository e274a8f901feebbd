"""Pre-ack helpers every source uses: time parsing (`timefmt`), the accepted time window (`window`) and the JSON
nesting bound (`jsondepth`). Pure."""
