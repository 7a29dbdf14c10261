// `weft completion bash`: a bash completion script for the commands and flags.
import { COMMANDS } from './commands.ts';

export const EXTRA_COMMANDS = ['tap', 'check', 'completion', 'help'];
export const GLOBAL_FLAGS = ['--socket', '--agent', '-o', '--output', '--help'];
export const TAP_FLAGS = ['--namespace', '--workload', '--service', '--method', '--path-prefix', '--status-class', '--count', '--duration'];

export function bashCompletion(): string {
  const cmds = [...COMMANDS.map((c) => c.name), ...EXTRA_COMMANDS].join(' ');
  return `# bash completion for weft; load with: source <(weft completion bash)
_weft() {
  local cur prev cmd i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd=""
  for ((i=1; i<COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) if [[ "\${COMP_WORDS[i-1]}" != --socket && "\${COMP_WORDS[i-1]}" != --agent && "\${COMP_WORDS[i-1]}" != -o && "\${COMP_WORDS[i-1]}" != --output ]]; then cmd="\${COMP_WORDS[i]}"; break; fi ;; esac
  done
  case "$prev" in
    -o|--output) COMPREPLY=( $(compgen -W "table json" -- "$cur") ); return ;;
    --socket) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  case "$cmd" in
    "") COMPREPLY=( $(compgen -W "${cmds} ${GLOBAL_FLAGS.join(' ')}" -- "$cur") ) ;;
    stat) COMPREPLY=( $(compgen -W "workload service edge ${GLOBAL_FLAGS.join(' ')}" -- "$cur") ) ;;
    tap) COMPREPLY=( $(compgen -W "${TAP_FLAGS.join(' ')} ${GLOBAL_FLAGS.join(' ')}" -- "$cur") ) ;;
    check) COMPREPLY=( $(compgen -W "--pre ${GLOBAL_FLAGS.join(' ')}" -- "$cur") ) ;;
    completion) COMPREPLY=( $(compgen -W "bash" -- "$cur") ) ;;
    *) COMPREPLY=( $(compgen -W "${GLOBAL_FLAGS.join(' ')}" -- "$cur") ) ;;
  esac
}
complete -F _weft weft
`;
}
