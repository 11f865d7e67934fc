# `tandem generate --logit-bias / --presence-penalty / --frequency-penalty` in
# process on the bundled model: a +100 bias forces its token at every
# position (target_only and speculative), penalties change the greedy output
# and greedy speculation still equals target_only under them, and malformed
# or out-of-range values are refused with the option's name.
function(run_json out_var)
  execute_process(COMMAND ${TANDEM} generate --json --temperature 0 --max-tokens 6 --ignore-eos ${ARGN}
                          "one two one two one two"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "generate ${ARGN}: exit ${rc}, stderr:\n${err}")
  endif()
  string(JSON ids GET "${out}" token_ids)
  set(${out_var} "${ids}" PARENT_SCOPE)
endfunction()

# Refused before any model loads: exit code and the option named.
function(expect_refusal what)
  execute_process(COMMAND ${TANDEM} generate --max-tokens 2 ${ARGN} "hi"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0 OR NOT err MATCHES "${what}")
    message(FATAL_ERROR "generate ${ARGN}: exit ${rc}, expected a refusal naming ${what}; stderr:\n${err}")
  endif()
endfunction()

foreach(strategy target_only speculative)
  run_json(forced --strategy ${strategy} --logit-bias 1000=100)
  string(REGEX REPLACE "[ \n\t]" "" forced "${forced}")
  if(NOT forced STREQUAL "[1000,1000,1000,1000,1000,1000]")
    message(FATAL_ERROR "${strategy} with --logit-bias 1000=100 gave ${forced}")
  endif()
endforeach()

run_json(plain --strategy target_only)
run_json(penalized --strategy target_only --presence-penalty 1.5 --frequency-penalty 2 --repetition-window 0)
run_json(spec --strategy speculative --fixed-gamma --gamma 3 --presence-penalty 1.5 --frequency-penalty 2
         --repetition-window 0)
if(penalized STREQUAL plain OR NOT spec STREQUAL penalized)
  message(FATAL_ERROR "penalties: plain ${plain}, target_only ${penalized}, speculative ${spec}")
endif()

expect_refusal("--logit-bias" --logit-bias 7)
expect_refusal("--logit-bias" --logit-bias 7=lots)
expect_refusal("--logit-bias" --logit-bias 7=1 --logit-bias 7=2)
expect_refusal("--logit-bias" --logit-bias 7=101)
expect_refusal("--presence-penalty" --presence-penalty 3)
expect_refusal("logit_bias" --logit-bias 99999999=1)
