# The web UI (web/: React, TypeScript, Vite) is built with the machine's Node.js and npm and
# its files are compiled into netsmith_server (cmake/embed.cmake), so running netsmith never
# needs Node. Without Node.js 20.19 or later (Vite's floor) or npm, or with -DNS_WEB_UI=OFF,
# the rest builds as before and `netsmith serve` says that the UI is not built.
#
# Sets NS_WWW_C (the generated source to add to netsmith_server) and NS_WEB_UI_BUILT.
option(NS_WEB_UI "Build the web UI (needs Node.js >= 20.19 and npm)" ON)
set(NS_WEB_DIR ${PROJECT_SOURCE_DIR}/web)
set(NS_WEB_OUT ${PROJECT_BINARY_DIR}/web/dist)
set(NS_WWW_C ${PROJECT_BINARY_DIR}/generated/www_files.c)
set(NS_WEB_UI_BUILT OFF)

if(NS_WEB_UI)
    find_program(NS_NODE node)
    find_program(NS_NPM npm)
    set(why "")
    if(NOT NS_NODE OR NOT NS_NPM)
        set(why "Node.js and npm were not found")
    else()
        execute_process(COMMAND ${NS_NODE} --version OUTPUT_VARIABLE node_version
                        OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE node_rc)
        string(REGEX REPLACE "^v" "" node_version "${node_version}")
        if(NOT node_rc EQUAL 0 OR node_version VERSION_LESS 20.19)
            set(why "Node.js ${node_version} is older than 20.19, which Vite needs")
        endif()
    endif()
    if(why STREQUAL "")
        set(NS_WEB_UI_BUILT ON)
    else()
        message(STATUS "The web UI is not built: ${why}; netsmith serve will say so")
    endif()
endif()

if(NS_WEB_UI_BUILT)
    message(STATUS "The web UI is built with Node.js ${node_version} (${NS_NPM})")
    file(GLOB_RECURSE web_sources CONFIGURE_DEPENDS ${NS_WEB_DIR}/src/*)
    # npm ci when the lock file is newer than what is installed
    set(installed ${NS_WEB_DIR}/node_modules/.package-lock.json)
    add_custom_command(OUTPUT ${installed}
        COMMAND ${NS_NPM} ci --no-audit --no-fund --loglevel=error
        WORKING_DIRECTORY ${NS_WEB_DIR}
        DEPENDS ${NS_WEB_DIR}/package-lock.json ${NS_WEB_DIR}/package.json
        COMMENT "Installing the web UI's npm packages (npm ci)"
        VERBATIM)
    # type-checks (tsc), then bundles into NS_WEB_OUT
    add_custom_command(OUTPUT ${NS_WEB_OUT}/index.html
        COMMAND ${CMAKE_COMMAND} -E env NS_WEB_OUT=${NS_WEB_OUT} ${NS_NPM} run --silent build
                -- --logLevel warn
        WORKING_DIRECTORY ${NS_WEB_DIR}
        DEPENDS ${installed} ${web_sources} ${NS_WEB_DIR}/index.html ${NS_WEB_DIR}/vite.config.ts
                ${NS_WEB_DIR}/tsconfig.json
        COMMENT "Building the web UI (tsc, vite build)"
        VERBATIM)
    add_custom_command(OUTPUT ${NS_WWW_C}
        COMMAND ${CMAKE_COMMAND} -DNS_EMBED_OUT=${NS_WWW_C} -DNS_EMBED_DIR=${NS_WEB_OUT}
                -DNS_EMBED_FUNC=ns__www_file -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
        DEPENDS ${NS_WEB_OUT}/index.html ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
        COMMENT "Embedding the web UI's files"
        VERBATIM)
else()
    add_custom_command(OUTPUT ${NS_WWW_C}
        COMMAND ${CMAKE_COMMAND} -DNS_EMBED_OUT=${NS_WWW_C} -DNS_EMBED_EMPTY=ON
                -DNS_EMBED_FUNC=ns__www_file -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
        DEPENDS ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
        COMMENT "Embedding no web UI"
        VERBATIM)
endif()
