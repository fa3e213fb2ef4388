# dp_gql: GraphQL parsing, schemas, validation, execution and introspection
# (gql.h), as a static library of position-independent code with hidden
# symbols. Independent of the host (only jansson), so that
# tests/unit/test_gql_*.c and fuzz/fuzz_graphql*.c drive it directly; the
# graphql plugin links it. Every gql_*.c of this folder is part of it.
pkg_check_modules(GQL_JANSSON REQUIRED IMPORTED_TARGET jansson)
file(GLOB DP_GQL_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/gql_*.c)
add_library(dp_gql STATIC ${DP_GQL_SOURCES})
target_include_directories(dp_gql PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(dp_gql PUBLIC PkgConfig::GQL_JANSSON)
set_target_properties(dp_gql PROPERTIES POSITION_INDEPENDENT_CODE ON
                                        C_VISIBILITY_PRESET hidden)
