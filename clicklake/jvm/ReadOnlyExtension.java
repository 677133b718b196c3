package clicklake.jvm;

import java.util.Set;

import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import scala.Function1;
import scala.runtime.BoxedUnit;

/**
 * Makes a SparkSession read-only for its SQL users (clicklake serve-sql): a statement whose plan
 * holds any command other than the ones below (which only read or describe) is rejected before
 * it runs. Commands are listed as allowed rather than forbidden, so a write command a future Spark
 * or Delta adds is rejected too. Queries (SELECT, WITH, EXPLAIN) are never commands.
 *
 * The server registers its tables first and then calls {@link #enable()}; nothing turns it off
 * again in that JVM.
 */
public final class ReadOnlyExtension implements Function1<SparkSessionExtensions, BoxedUnit> {
    private static final Set<String> READ_COMMANDS = Set.of(
        "SetCommand", "ResetCommand", "SetCatalogAndNamespace", "SetCatalogCommand", "SetNamespaceCommand",
        "ShowCatalogsCommand", "ShowNamespaces", "ShowNamespacesCommand", "ShowCurrentNamespaceCommand",
        "ShowTables", "ShowTablesCommand", "ShowTablesExtended", "ShowTablePartition", "ShowViews", "ShowViewsCommand",
        "ShowColumns", "ShowColumnsCommand", "ShowCreateTable", "ShowCreateTableCommand", "ShowCreateTableAsSerdeCommand",
        "ShowFunctions", "ShowFunctionsCommand", "ShowPartitions", "ShowPartitionsCommand",
        "ShowTableProperties", "ShowTablePropertiesCommand",
        "DescribeRelation", "DescribeTableCommand", "DescribeRelationJsonCommand", "DescribeColumn", "DescribeColumnCommand",
        "DescribeNamespace", "DescribeDatabaseCommand", "DescribeFunction", "DescribeFunctionCommand", "DescribeQueryCommand",
        "ExplainCommand", "RefreshTable", "RefreshTableCommand",
        "DescribeDeltaDetailCommand", "DescribeDeltaHistory", "DescribeDeltaHistoryCommand");

    private static volatile boolean enabled = false;

    public static void enable() {
        enabled = true;
    }

    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        extensions.injectCheckRule(session -> plan -> {
            check(plan);
            return BoxedUnit.UNIT;
        });
        return BoxedUnit.UNIT;
    }

    static void check(LogicalPlan plan) {
        if (!enabled) {
            return;
        }
        scala.Option<LogicalPlan> write = plan.find(node -> node instanceof Command && !READ_COMMANDS.contains(node.getClass().getSimpleName()));
        if (write.isDefined()) {
            throw new UnsupportedOperationException("this clicklake SQL server is read-only: "
                + write.get().nodeName() + " is not allowed (the pipeline writes the tables; start it with --writable to change that)");
        }
    }
}
