# `tandem generate --suffix` (fill in the middle) in process on the bundled
# Qwen2.5-Coder-0.5B: the gap between a function head and its call is the
# function's body, greedy speculation gives the same tokens as target_only,
# and a model without FIM tokens (SmolLM2) or --chat is refused by name.
set(prefix "def add(a, b):\n    return ")
set(suffix "\n\nprint(add(1, 2))\n")

function(run_json out_var)
  execute_process(COMMAND ${TANDEM} generate --json --model qwen2.5-coder-0.5b --temperature 0 --max-tokens 12
                          --prompt "${prefix}" --suffix "${suffix}" ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "generate --suffix ${ARGN}: exit ${rc}, stderr:\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

run_json(plain --strategy target_only)
string(JSON text GET "${plain}" text)
if(NOT text MATCHES "^a \\+ b")
  message(FATAL_ERROR "the gap of add(a, b) was filled with '${text}'")
endif()
string(JSON plain_ids GET "${plain}" token_ids)
run_json(spec --strategy speculative --fixed-gamma --gamma 3)
string(JSON spec_ids GET "${spec}" token_ids)
if(NOT spec_ids STREQUAL plain_ids)
  message(FATAL_ERROR "speculative ${spec_ids} != target_only ${plain_ids}")
endif()

# Without a suffix the same prompt is a plain completion: another prompt, so
# the suffix must have reached the model.
execute_process(COMMAND ${TANDEM} generate --json --model qwen2.5-coder-0.5b --temperature 0 --max-tokens 12
                        --prompt "${prefix}" --strategy target_only
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(JSON prompt_tokens GET "${out}" stats prompt_tokens)
string(JSON fim_prompt_tokens GET "${plain}" stats prompt_tokens)
if(NOT rc EQUAL 0 OR NOT fim_prompt_tokens GREATER prompt_tokens)
  message(FATAL_ERROR "plain completion: exit ${rc}, ${prompt_tokens} prompt tokens vs ${fim_prompt_tokens} with "
                      "the suffix; stderr:\n${err}")
endif()

function(expect_refusal what)
  execute_process(COMMAND ${TANDEM} generate --max-tokens 2 ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0 OR NOT err MATCHES "${what}")
    message(FATAL_ERROR "generate ${ARGN}: exit ${rc}, expected a refusal matching '${what}'; stderr:\n${err}")
  endif()
endfunction()
expect_refusal("suffix: this model has no fill-in-the-middle tokens" --model smollm2-135m --prompt "a" --suffix "b")
expect_refusal("--suffix" --model qwen2.5-coder-0.5b --chat --prompt "a" --suffix "b")
