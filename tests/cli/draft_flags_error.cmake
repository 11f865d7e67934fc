# The in-process draft flags with --server are a clear error (the deployment's
# draft service decides), checked before any connection is tried; an unknown
# --draft-requantize type is a usage error.
execute_process(COMMAND ${TANDEM} generate --server 127.0.0.1:1 --draft-requantize q4_0 --max-tokens 2 "hi"
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(rc EQUAL 0 OR NOT err MATCHES "load a draft in this process")
  message(FATAL_ERROR "--server with --draft-requantize: exit ${rc}, stderr:\n${err}")
endif()
execute_process(COMMAND ${TANDEM} generate --draft-requantize q2_k --max-tokens 2 "hi"
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "--draft-requantize")
  message(FATAL_ERROR "--draft-requantize q2_k: exit ${rc}, stderr:\n${err}")
endif()
