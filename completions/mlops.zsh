#compdef mlops

_mlops_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _MLOPS_COMPLETE=complete_zsh mlops)
}

compdef _mlops_completion mlops
