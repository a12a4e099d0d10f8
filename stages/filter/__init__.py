"""filter: language ID, heuristic rule sets, URL and safety lists, PII anonymization
(the stage is `stages.filter.stage.FilterStage`; its steps are described there)."""
