/*
 * user_broken.c: a user's file that does not compile, for the bad-input
 * case compare-kernel-file-broken (tests/errors/cases_compare.txt): kiln
 * compare must say so in one line naming the file and exit 1.
 */
void broken(const void *const *inputs, void *const *outputs)
{
    int x = ;
}
