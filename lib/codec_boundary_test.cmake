# Proves erlnode::codec needs neither Asio nor OpenSSL: the archive must reference
# no symbol from either (it is a static library, so undefined symbols are what it needs).
execute_process(COMMAND ${NM} -C --undefined-only ${LIB} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed on ${LIB}")
endif()
string(REGEX MATCHALL "[^\n]*(boost::asio|asio::|EVP_|SSL_|OPENSSL_|CRYPTO_|MD5)[^\n]*" bad "${syms}")
if(bad)
  message(FATAL_ERROR "erlnode::codec references Asio/OpenSSL symbols:\n${bad}")
endif()
get_filename_component(dir ${LIB} DIRECTORY)
message(STATUS "codec archive is free of Asio and OpenSSL")
