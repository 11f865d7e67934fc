# `tandem generate --logprobs` in process on the bundled model: one entry per
# token with its alternatives (greedy: the token is the first of them, with the
# same value), speculative reporting exactly target-only's numbers, and the
# usage errors (--top-logprobs or --prompt-logprobs without --logprobs; a
# strategy that cannot report them refused before any model loads); with
# --prompt-logprobs the prompt's tokens scored too, the generation unchanged.
function(run_json out_var)
  execute_process(COMMAND ${TANDEM} generate --json --temperature 0 --max-tokens 8 --ignore-eos --logprobs
                          --top-logprobs 3 ${ARGN} "The capital of France is"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "generate ${ARGN}: exit ${rc}, stderr:\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

run_json(target --strategy target_only)
string(JSON tokens GET "${target}" completion_tokens)
string(JSON entries LENGTH "${target}" logprobs)
if(NOT tokens EQUAL 8 OR NOT entries EQUAL tokens)
  message(FATAL_ERROR "${entries} logprobs for ${tokens} tokens:\n${target}")
endif()
math(EXPR last "${entries} - 1")
foreach(i RANGE ${last})
  string(JSON id GET "${target}" logprobs ${i} token_id)
  string(JSON want_id GET "${target}" token_ids ${i})
  string(JSON lp GET "${target}" logprobs ${i} logprob)
  string(JSON alternatives LENGTH "${target}" logprobs ${i} top_logprobs)
  string(JSON first_id GET "${target}" logprobs ${i} top_logprobs 0 token_id)
  string(JSON first_lp GET "${target}" logprobs ${i} top_logprobs 0 logprob)
  if(NOT id EQUAL want_id OR NOT alternatives EQUAL 3 OR NOT first_id EQUAL id OR NOT first_lp STREQUAL lp
     OR lp GREATER 0)
    message(FATAL_ERROR "logprobs[${i}] (token ${want_id}) is wrong:\n${target}")
  endif()
endforeach()

run_json(spec --strategy speculative --fixed-gamma --gamma 3)
string(JSON target_lp GET "${target}" logprobs)
string(JSON spec_lp GET "${spec}" logprobs)
if(NOT spec_lp STREQUAL target_lp)
  message(FATAL_ERROR "speculative logprobs differ from target_only's:\n${spec_lp}\n${target_lp}")
endif()

# --prompt-logprobs: the prompt's tokens scored too (the first unscored), the
# generation itself unchanged.
run_json(scored --strategy target_only --prompt-logprobs)
string(JSON prompt_tokens GET "${scored}" prompt_tokens)
string(JSON entries LENGTH "${scored}" prompt_logprobs)
string(JSON first_lp TYPE "${scored}" prompt_logprobs 0 logprob)
if(NOT entries EQUAL prompt_tokens OR entries LESS 2 OR NOT first_lp STREQUAL "NULL")
  message(FATAL_ERROR "prompt_logprobs: ${entries} entries for ${prompt_tokens} prompt tokens:\n${scored}")
endif()
math(EXPR last "${entries} - 1")
foreach(i RANGE 1 ${last})
  string(JSON lp GET "${scored}" prompt_logprobs ${i} logprob)
  string(JSON alternatives LENGTH "${scored}" prompt_logprobs ${i} top_logprobs)
  if(lp GREATER 0 OR NOT alternatives EQUAL 3)
    message(FATAL_ERROR "prompt_logprobs[${i}] is wrong:\n${scored}")
  endif()
endforeach()
string(JSON scored_lp GET "${scored}" logprobs)
if(NOT scored_lp STREQUAL target_lp)
  message(FATAL_ERROR "--prompt-logprobs changed the generation's logprobs:\n${scored_lp}\n${target_lp}")
endif()
# --max-tokens 0 with --prompt-logprobs: the prompt scored alone, the same
# entries; without it refused.
execute_process(COMMAND ${TANDEM} generate --json --temperature 0 --max-tokens 0 --logprobs --top-logprobs 3
                        --prompt-logprobs --strategy target_only "The capital of France is"
                RESULT_VARIABLE rc OUTPUT_VARIABLE zero ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "--max-tokens 0 --prompt-logprobs: exit ${rc}, stderr:\n${err}")
endif()
string(JSON zero_tokens GET "${zero}" completion_tokens)
string(JSON zero_prompt GET "${zero}" prompt_logprobs)
string(JSON scored_prompt GET "${scored}" prompt_logprobs)
if(NOT zero_tokens EQUAL 0 OR NOT zero_prompt STREQUAL scored_prompt)
  message(FATAL_ERROR "--max-tokens 0: ${zero_tokens} tokens, prompt entries differ:\n${zero}")
endif()
execute_process(COMMAND ${TANDEM} generate --max-tokens 0 "hi"
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(rc EQUAL 0 OR NOT err MATCHES "max_tokens")
  message(FATAL_ERROR "--max-tokens 0 alone: exit ${rc}, stderr:\n${err}")
endif()

execute_process(COMMAND ${TANDEM} generate --prompt-logprobs --max-tokens 2 "hi"
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "--prompt-logprobs requires --logprobs")
  message(FATAL_ERROR "--prompt-logprobs alone: exit ${rc}, stderr:\n${err}")
endif()

execute_process(COMMAND ${TANDEM} generate --top-logprobs 2 --max-tokens 2 "hi"
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "--top-logprobs requires --logprobs")
  message(FATAL_ERROR "--top-logprobs alone: exit ${rc}, stderr:\n${err}")
endif()
execute_process(COMMAND ${TANDEM} generate --logprobs --strategy best_of_n --max-tokens 2 "hi"
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(rc EQUAL 0 OR NOT err MATCHES "logprobs: strategy 'best_of_n' does not report them" OR err MATCHES "loading")
  message(FATAL_ERROR "--logprobs with best_of_n: exit ${rc}, stderr:\n${err}")
endif()
