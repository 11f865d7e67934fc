# `tandem generate --device cuda` without a CUDA build fails with the
# backend factory's message; `--device gpu` is a usage error.
execute_process(COMMAND ${TANDEM} generate --device cuda --max-tokens 2 "hi" RESULT_VARIABLE rc ERROR_VARIABLE err
                OUTPUT_QUIET)
if(rc EQUAL 0 OR NOT err MATCHES "CUDA requested but tandem was built without CUDA")
  message(FATAL_ERROR "--device cuda: exit ${rc}, stderr:\n${err}")
endif()
execute_process(COMMAND ${TANDEM} generate --device gpu --max-tokens 2 "hi" RESULT_VARIABLE rc ERROR_VARIABLE err
                OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "--device: unknown device 'gpu'")
  message(FATAL_ERROR "--device gpu: exit ${rc}, stderr:\n${err}")
endif()
