/* Placeholder until the host runtime lands. */
int main(void) { return 1; }
