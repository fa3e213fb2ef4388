# dp_soapwsdl: WSDL 1.1 + XSD sets for the SOAP plugin (libxml2), a static
# library of position-independent code with hidden symbols, so that
# tests/unit/test_soapwsdl_*.c and fuzz/fuzz_wsdl.c drive it directly and
# the soap plugin links it.
pkg_check_modules(SOAPWSDL_XML2 REQUIRED IMPORTED_TARGET libxml-2.0)
pkg_check_modules(SOAPWSDL_JANSSON REQUIRED IMPORTED_TARGET jansson)

add_library(dp_soapwsdl STATIC
  ${CMAKE_CURRENT_LIST_DIR}/soap_wsdl.c
  ${CMAKE_CURRENT_LIST_DIR}/soap_xsd.c)
target_include_directories(dp_soapwsdl PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(dp_soapwsdl PUBLIC PkgConfig::SOAPWSDL_XML2
                      PkgConfig::SOAPWSDL_JANSSON)
set_target_properties(dp_soapwsdl PROPERTIES POSITION_INDEPENDENT_CODE ON
                                             C_VISIBILITY_PRESET hidden)
