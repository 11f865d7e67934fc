# A decoding/ file that includes a services/ header, and two service folders
# that include each other, and an SDK file (not the generator) that includes
# decoding/: check_layers.py must exit non-zero naming all three.
file(REMOVE_RECURSE ${WORK})
file(WRITE ${WORK}/decoding/bad.h "#include \"services/common/x.h\"\n")
file(WRITE ${WORK}/services/a/a.h "#include \"services/b/b.h\"\n")
file(WRITE ${WORK}/services/b/b.h "#include \"services/a/a.h\"\n")
file(WRITE ${WORK}/sdk/cpp/src/bad.cc "#include \"decoding/registry/strategy_registry.h\"\n")
execute_process(COMMAND ${PYTHON} ${CHECKER} ${WORK} RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "check_layers.py accepted an upward include:\n${out}")
endif()
foreach(expected "decoding/bad.h: includes services/common/x.h" "services/ include cycle"
                 "sdk/cpp/src/bad.cc: includes decoding/registry/strategy_registry.h")
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "check_layers.py did not report '${expected}':\n${out}")
  endif()
endforeach()
