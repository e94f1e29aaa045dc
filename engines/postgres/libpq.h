/*
 * engines/postgres/libpq.h - libpq, loaded when it is first needed.
 *
 * A program that only ever opens SQLite databases should not pay for
 * libpq and the libraries it pulls in (TLS, Kerberos, LDAP: about 4 MB of
 * resident pages and two dozen libraries to map at start).  So libstrata
 * does not link libpq: the PostgreSQL driver calls it through the table
 * below, which strata__libpq_load fills with dlopen / dlsym the first time
 * a PostgreSQL URL is used.  Every name is libpq's own, so the driver
 * reads as plain libpq code once it includes this header.
 */
#ifndef STRATA_ENGINES_POSTGRES_LIBPQ_H
#define STRATA_ENGINES_POSTGRES_LIBPQ_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* Every libpq function the driver calls. */
#define STRATA__LIBPQ_FUNCTIONS(X) \
    X(PQcancel)                    \
    X(PQclear)                     \
    X(PQcmdStatus)                 \
    X(PQcmdTuples)                 \
    X(PQconnectPoll)               \
    X(PQconnectStartParams)        \
    X(PQconnectdbParams)           \
    X(PQconninfoFree)              \
    X(PQconninfoParse)             \
    X(PQconsumeInput)              \
    X(PQenterPipelineMode)         \
    X(PQerrorMessage)              \
    X(PQexitPipelineMode)          \
    X(PQfinish)                    \
    X(PQflush)                     \
    X(PQfmod)                      \
    X(PQfname)                     \
    X(PQfreeCancel)                \
    X(PQfreemem)                   \
    X(PQftype)                     \
    X(PQgetCancel)                 \
    X(PQgetCopyData)               \
    X(PQgetResult)                 \
    X(PQgetisnull)                 \
    X(PQgetlength)                 \
    X(PQgetvalue)                  \
    X(PQhost)                      \
    X(PQisBusy)                    \
    X(PQmakeEmptyPGresult)         \
    X(PQnfields)                   \
    X(PQnparams)                   \
    X(PQntuples)                   \
    X(PQparameterStatus)           \
    X(PQparamtype)                 \
    X(PQpipelineSync)              \
    X(PQport)                      \
    X(PQputCopyEnd)                \
    X(PQresultErrorField)          \
    X(PQresultErrorMessage)        \
    X(PQresultStatus)              \
    X(PQsendDescribePrepared)      \
    X(PQsendFlushRequest)          \
    X(PQsendPrepare)               \
    X(PQsendQuery)                 \
    X(PQsendQueryParams)           \
    X(PQsendQueryPrepared)         \
    X(PQsetErrorVerbosity)         \
    X(PQsetNoticeReceiver)         \
    X(PQsetSingleRowMode)          \
    X(PQsocket)                    \
    X(PQstatus)                    \
    X(PQtransactionStatus)         \
    X(PQunescapeBytea)

typedef struct strata__libpq {
#define X(name) __typeof__(name) *name;
    STRATA__LIBPQ_FUNCTIONS(X)
#undef X
} strata__libpq;

extern strata__libpq strata__pq;

/* Load libpq for the process, once it works (thread-safe): true when it
 * is there, else false with why not in `why`, naming the library. */
bool strata__libpq_load(char *why, size_t size);

#ifndef STRATA__LIBPQ_LOADER
#define PQcancel strata__pq.PQcancel
#define PQclear strata__pq.PQclear
#define PQcmdStatus strata__pq.PQcmdStatus
#define PQcmdTuples strata__pq.PQcmdTuples
#define PQconnectPoll strata__pq.PQconnectPoll
#define PQconnectStartParams strata__pq.PQconnectStartParams
#define PQconnectdbParams strata__pq.PQconnectdbParams
#define PQconninfoFree strata__pq.PQconninfoFree
#define PQconninfoParse strata__pq.PQconninfoParse
#define PQconsumeInput strata__pq.PQconsumeInput
#define PQenterPipelineMode strata__pq.PQenterPipelineMode
#define PQerrorMessage strata__pq.PQerrorMessage
#define PQexitPipelineMode strata__pq.PQexitPipelineMode
#define PQfinish strata__pq.PQfinish
#define PQflush strata__pq.PQflush
#define PQfmod strata__pq.PQfmod
#define PQfname strata__pq.PQfname
#define PQfreeCancel strata__pq.PQfreeCancel
#define PQfreemem strata__pq.PQfreemem
#define PQftype strata__pq.PQftype
#define PQgetCancel strata__pq.PQgetCancel
#define PQgetCopyData strata__pq.PQgetCopyData
#define PQgetResult strata__pq.PQgetResult
#define PQgetisnull strata__pq.PQgetisnull
#define PQgetlength strata__pq.PQgetlength
#define PQgetvalue strata__pq.PQgetvalue
#define PQhost strata__pq.PQhost
#define PQisBusy strata__pq.PQisBusy
#define PQmakeEmptyPGresult strata__pq.PQmakeEmptyPGresult
#define PQnfields strata__pq.PQnfields
#define PQnparams strata__pq.PQnparams
#define PQntuples strata__pq.PQntuples
#define PQparameterStatus strata__pq.PQparameterStatus
#define PQparamtype strata__pq.PQparamtype
#define PQpipelineSync strata__pq.PQpipelineSync
#define PQport strata__pq.PQport
#define PQputCopyEnd strata__pq.PQputCopyEnd
#define PQresultErrorField strata__pq.PQresultErrorField
#define PQresultErrorMessage strata__pq.PQresultErrorMessage
#define PQresultStatus strata__pq.PQresultStatus
#define PQsendDescribePrepared strata__pq.PQsendDescribePrepared
#define PQsendFlushRequest strata__pq.PQsendFlushRequest
#define PQsendPrepare strata__pq.PQsendPrepare
#define PQsendQuery strata__pq.PQsendQuery
#define PQsendQueryParams strata__pq.PQsendQueryParams
#define PQsendQueryPrepared strata__pq.PQsendQueryPrepared
#define PQsetErrorVerbosity strata__pq.PQsetErrorVerbosity
#define PQsetNoticeReceiver strata__pq.PQsetNoticeReceiver
#define PQsetSingleRowMode strata__pq.PQsetSingleRowMode
#define PQsocket strata__pq.PQsocket
#define PQstatus strata__pq.PQstatus
#define PQtransactionStatus strata__pq.PQtransactionStatus
#define PQunescapeBytea strata__pq.PQunescapeBytea
#endif

#endif
