"""Pre-ack helpers every source uses: the accepted time window (`window`) and the JSON nesting bound
(`jsondepth`); time parsing is `lynex_box.schema.timefmt`. Pure."""
